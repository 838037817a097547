"""One request's session: loaded before the handler, changed by it and by the helpers, committed at response start.

What the response says about the token (a cookie, or a header for API clients) follows from two facts alone: the
token the client sent and the session the request ends with. A different token is delivered; a session that is gone
(logout, unknown or expired token) is cleared; a malformed token is left alone, since a cookie of that name may
belong to another application (say, a legacy session store being migrated).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sessionhub.client import ClientInfo
from sessionhub.cookies import CookiePolicy
from sessionhub.errors import BackendUnavailable, SessionNotFound
from sessionhub.manager import SessionManager
from sessionhub.model import Session, SessionData
from sessionhub.tokens import session_id_for

logger = logging.getLogger("sessionhub.asgi")

SCOPE_KEY = "sessionhub"
"""Where the middleware keeps the request's `RequestSession` in the ASGI scope."""

RISK_KEY = "session_risk"
"""Where the middleware puts the request's `sessionhub.risk.Risk` (None without a session) in the ASGI scope."""


class RequestSession:
    __slots__ = (
        *("client", "cookie", "data", "legacy_cookies", "legacy_to_clear", "logged_out", "manager", "sent_token"),
        *("session", "unprefixed_token"),
    )

    def __init__(
        self,
        manager: SessionManager,
        cookie: CookiePolicy,
        sent_token: str | None,
        client: ClientInfo,
        legacy_cookies: dict[str, str] | None = None,
        *,
        unprefixed_token: str | None = None,
    ) -> None:
        self.manager = manager
        self.cookie = cookie
        self.sent_token = sent_token
        self.client = client
        self.legacy_cookies = legacy_cookies
        """Cookies of migrated session managers (`legacy_cookie_names`) this request carries, if any."""
        self.unprefixed_token = unprefixed_token
        """The cookie under its name from before the default prefix (`CookiePolicy.unprefixed_name`), if sent."""
        self.legacy_to_clear: Sequence[str] = ()
        self.session: Session | None = None
        """The stored session this request uses; None until something is written when there is none."""
        self.data: SessionData
        """What `scope["session"]` is: the session's data, or an empty mapping stored once written into. Set by
        `load`, which comes first."""
        self.logged_out = False
        """True once the handler ended the session with `logout`."""

    async def load(self) -> None:
        """Exactly one backend call with a well-formed cookie that finds its session, none without one (the manager
        checks the shape). Told the client, the manager also assesses risk and counts unknown tokens; it raises
        TokenThrottled for an address over the unknown-token threshold when throttling is on.

        With no live session but a legacy cookie, its migrated session is adopted under a new token (two more
        calls, once per browser); every legacy cookie sent is then cleared, adopted or not, as none works twice. A
        cookie under the bare name the default prefix replaced is moved the same way (`_move_unprefixed`).
        """
        token = self.sent_token
        if token is not None:
            self._become(await self.manager.get(token, client=self.client))
        elif self.unprefixed_token is not None:
            self._become(await self._move_unprefixed(self.unprefixed_token))
        else:
            self._become(None)
        bare_name = self.cookie.unprefixed_name
        if bare_name is not None and session_id_for(self.unprefixed_token) is not None:
            self.legacy_to_clear = (bare_name,)  # moved or dead: it cannot work again
        if self.session is None and self.legacy_cookies:
            try:
                adopted, present = await self.manager.adopt_legacy_cookies(self.legacy_cookies)
            except BackendUnavailable as exc:
                # Migrated sessions live only in the primary store: serve this request without a session but keep
                # the legacy cookie, so that the browser's session is adopted once the store is back.
                logger.warning("legacy session adoption postponed: %s", exc, extra={"event": "adoption_postponed"})
                return
            self.legacy_to_clear = (*self.legacy_to_clear, *present)
            self._become(adopted)

    async def _move_unprefixed(self, token: str) -> Session | None:
        """The session the cookie's bare name reaches, on a new token: the response sets it under the prefixed name.
        A new token, because the bare cookie was open to planting and overwriting by the pages the prefix now
        keeps out; a value that is not a sessionhub token is someone else's cookie, left alone."""
        if await self.manager.get(token, client=self.client) is None:
            return None
        try:
            return await self.manager.rotate(token, client=self.client, reason="cookie_prefixed")
        except SessionNotFound:
            return None

    async def login(self, user_id: str, remember: bool | None) -> Session:
        token = self.session.token if self.session is not None else None
        session = await self.manager.login(token, user_id, client=self.client, data=self.data, remember=remember)
        self._become(session)
        return session

    async def reauthenticated(self) -> Session:
        token = self.session.token if self.session is not None else None
        session = await self.manager.reauthenticated(token, client=self.client, data=self.data)
        self._become(session)
        return session

    async def switch_to(self, session: Session) -> None:
        if session.token is None:
            raise ValueError("switch_to needs a session with its token, as create, get or login return it")
        previous = self.session
        if _extends_sign_in(previous, session):
            raise ValueError(
                "switch_to would give this user's sign-in a new absolute lifetime: create the session with "
                "replaces=<the request's session> (or sign in with login)"
            )
        if previous is not None and previous.id != session.id:
            await self.manager.delete(previous.token)
        self._become(session)

    async def logout(self) -> None:
        if self.session is not None:
            await self.manager.delete(self.session.token, client=self.client)
            self.logged_out = True
        self._become(None)

    async def rotate(self) -> Session | None:
        if self.session is None or self.session.token is None:
            return None
        try:
            rotated = await self.manager.rotate(self.session.token, client=self.client)
        except SessionNotFound:
            logger.info(
                "session %s ended before it could be rotated",
                self.session.id,
                extra={"event": "rotation_missed", "session_id": self.session.id},
            )
            self._become(None)
            return None
        # Rotation moves the stored data unchanged, so the data the handler holds (and may have changed) stays valid.
        rotated.data = self.data
        self.session = rotated
        return rotated

    async def commit(self, status: int) -> None:
        """Save what the request changed, unless it failed (5xx); then `issued_token` and `token_ended` tell what
        the response must say about the token.

        Saving errors propagate (the response has not started, so they become a 500), except a session that ended
        meanwhile: its changes are dropped, as a save must never bring a logged-out session back.
        """
        session = self.session
        if status < 500 and self.data.cleared and session is not None:
            # `request.session.clear()` signs out, as it does with Starlette's cookie sessions: the session ends,
            # and whatever was written after the clear starts a new one below.
            await self.manager.delete(session.token, client=self.client)
            self.logged_out = True
            self.session = session = None
        if status < 500 and session is not None:
            try:
                await self.manager.save(session)
            except SessionNotFound:
                logger.info(
                    "session %s ended before this request's changes were saved; they were dropped",
                    session.id,
                    extra={"event": "changes_dropped", "session_id": session.id},
                )
        elif status < 500 and self.data:
            self._become(await self.manager.create(data=self.data, client=self.client))

    @property
    def issued_token(self) -> str | None:
        """A token the client does not have yet (a first session, a sign-in, a rotation): the response delivers it."""
        session = self.session
        if session is not None and session.token is not None and session.token != self.sent_token:
            return session.token
        return None

    @property
    def token_ended(self) -> bool:
        """Whether the token the client sent names no session any more (logout, expired, unknown): the response tells
        the client to drop it. A malformed one is left alone: it may be another application's."""
        return self.session is None and session_id_for(self.sent_token) is not None

    def cookie_header(self) -> str | None:
        """The Set-Cookie value the response needs, if any."""
        if self.issued_token is not None and self.session is not None:
            return self.cookie.session_cookie(self.session)
        return self.cookie.clear_cookie() if self.token_ended else None

    def legacy_cookie_headers(self, setting_own_cookie: bool) -> list[str]:
        """Set-Cookie values clearing the legacy cookies; one sharing the session cookie's name is replaced by the
        session cookie when that is being set."""
        return [
            self.cookie.clear_cookie(name)
            for name in self.legacy_to_clear
            if not (setting_own_cookie and name == self.cookie.name)
        ]

    def _become(self, session: Session | None) -> None:
        self.session = session
        self.data = session.data if session is not None else SessionData(codec=self.manager.codec)


def _extends_sign_in(previous: Session | None, session: Session) -> bool:
    """Whether `session` is the same user's as `previous` but signed in later: switching to it would reset the
    absolute timeout without an authentication (a `create(user_id=...)` that forgot `replaces=`)."""
    if previous is None or previous.user_id is None or previous.user_id != session.user_id:
        return False
    before, after = previous.authenticated_at, session.authenticated_at
    return before is not None and after is not None and after > before
