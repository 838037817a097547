"""SessionManager: the one object an application talks to about sessions.

It turns tokens into session ids, checks and encodes everything before the store sees it, applies the timeouts and
limits from Settings, and calls the backend once per operation. It never logs or raises with a token in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Self, TypeVar

from sessionhub import events, observers
from sessionhub.abuse import TokenAbuseMonitor
from sessionhub.backends.base import (
    ROTATED_AWAY,
    Audit,
    ImportedSession,
    ImportMarker,
    ImportOutcome,
    LegacyStore,
    SecurityLog,
    SessionBrowser,
    SessionStore,
    SharedAbuseCounter,
    UserLimit,
)
from sessionhub.backends.memory import MemoryBackend
from sessionhub.client import ClientInfo
from sessionhub.codecs import DataCodec, codec_named
from sessionhub.conversation import Conversations, encode_message
from sessionhub.errors import (
    BackendUnavailable,
    ConfigurationError,
    SessionDataError,
    SessionLimitExceeded,
    SessionNotFound,
    TokenThrottled,
)
from sessionhub.events import SecurityEvent
from sessionhub.legacy import LegacyFallback, LegacySession, legacy_alias_id, migrated_session_id
from sessionhub.model import DataChanges, Session, SessionData, SessionRecord, check_storable
from sessionhub.observers import SessionObserver
from sessionhub.risk import NO_RISK, Risk, assess, device_family
from sessionhub.settings import KIND_PATTERN, Settings
from sessionhub.stack import build_backend, build_legacy_fallback
from sessionhub.tokens import (
    bucket_for_user,
    bucket_of,
    is_session_id,
    new_token,
    random_bucket,
    session_id_for,
    session_id_or_not_found,
)

logger = logging.getLogger("sessionhub")
security_logger = logging.getLogger("sessionhub.security")
"""Where token abuse, token reuse and risk flags are logged (public ids and client addresses, never tokens)."""

T = TypeVar("T")

MAX_USER_ID_LENGTH = 256
NO_CHANGES = DataChanges()
MIN_IMPORT_REMAINING_MS = 1000
"""A legacy session with less time than this left is not worth importing: it counts as expired."""


def _check_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_USER_ID_LENGTH:
        raise SessionDataError(f"user_id must be a non-empty str of at most {MAX_USER_ID_LENGTH} characters")
    check_storable(user_id)
    return user_id


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise SessionDataError("kind must be 1-32 characters: a lowercase letter, then letters, digits, _ or -")
    return kind


class SessionManager(Conversations):
    """Create, read, change, rotate and end sessions in one backend.

    Conversations and demo sessions (`add_message`, `get_messages`, `create_demo_session`, `set_progress`,
    `demo_status`) are a layer over this API, in sessionhub.conversation.

    Use it as an async context manager (`async with manager:`) so the backend connects and loads its scripts at
    start-up and closes on the way out.
    """

    def __init__(
        self,
        backend: SessionStore,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        codec: DataCodec | None = None,
        legacy_fallback: LegacyFallback | None = None,
    ) -> None:
        """`codec` stores session data (sessionhub.codecs); by default the one the `data_codec` setting names.
        `legacy_fallback` is where `adopt_legacy` reads a legacy session that no migration has imported yet (the
        legacy stores themselves: `legacy_stores`); it is closed with the manager."""
        self.backend = backend
        self.legacy_fallback = legacy_fallback
        self.settings = settings if settings is not None else Settings()
        self.codec = codec if codec is not None else codec_named(self.settings.data_codec)
        self._clock = clock
        self._fall_back_to_memory_at_start = False
        self.observers: list[SessionObserver] = []
        """Told about every operation and session event (sessionhub.observers); metrics subscribe here."""
        self.token_abuse = TokenAbuseMonitor(
            window=self.settings.token_abuse_window,
            threshold=self.settings.token_abuse_threshold,
            max_clients=self.settings.token_abuse_max_clients,
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SessionManager:
        """The store stack the settings name (`sessionhub.stack`): memory when testing or when no redis_url is set;
        otherwise Redis, served from memory through outages and caught up on recovery (`redis_fallback`, on by
        default). With `redis_fallback` off, Redis alone.

        A Redis that cannot be reached at start-up fails `open` with BackendUnavailable, unless
        `redis_start_in_memory` allows starting on memory (with a warning)."""
        settings = settings if settings is not None else Settings()
        manager = cls(build_backend(settings), settings, legacy_fallback=build_legacy_fallback(settings))
        manager._fall_back_to_memory_at_start = (
            not settings.uses_memory and not settings.redis_fallback and settings.redis_start_in_memory
        )
        return manager

    async def open(self) -> None:
        try:
            await self.backend.open()
        except BackendUnavailable as exc:
            if not self._fall_back_to_memory_at_start:
                raise
            logger.warning(
                "%s at start-up; keeping sessions in memory instead",
                exc,
                extra={"event": "started_in_memory", "error": type(exc).__name__},
            )
            await self.backend.close()
            self.backend = MemoryBackend()

    async def close(self) -> None:
        await self.backend.close()
        if self.legacy_fallback is not None:
            await self.legacy_fallback.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- sessions -----------------------------------------------------------------------------------------------

    async def create(
        self,
        *,
        user_id: str | None = None,
        data: Mapping[str, Any] | None = None,
        kind: str = "user",
        client: ClientInfo | None = None,
        replaces: Session | None = None,
        remember: bool | None = None,
    ) -> Session:
        """A new session (signed in when `user_id` is given), stored at once. Raises SessionDataError for data that
        cannot be stored and SessionLimitExceeded under the `reject` policy, in both cases storing nothing.

        A session made with a `user_id` counts as a sign-in of that user now, unless it `replaces` a session of the
        same user (the one the browser had, which the caller then ends, say with `sessionhub.asgi.switch_to`): it
        then carries that session's `authenticated_at`, and so its absolute deadline. Replacing a signed-in
        session must never extend the sign-in: only `login` and `reauthenticated` do that. `remember` is the sign-in's
        "remember me" choice, as for `login` (a replacing session carries the replaced one's).
        """
        if user_id is not None:
            user_id = _check_user_id(user_id)
        changes = SessionData.fresh(data or {}, self.codec).pending_changes(self.settings.max_data_bytes)
        token = new_token(bucket_for_user(user_id) if user_id is not None else random_bucket())
        authenticated_at = None
        if replaces is not None and user_id is not None and replaces.user_id == user_id:
            authenticated_at = replaces._authenticated_at  # milliseconds, exactly as stored
            remember = replaces.remembered
        remembered = remember if user_id is not None else None
        record = self._new_record(token, user_id, _check_kind(kind), client, self._now(), authenticated_at, remembered)
        record.data = changes.updated
        audit = self._audit(events.USER, "", record.client)
        limit = self._limit_for(user_id)
        evicted = await self._limited("create", self.backend.create(record, limit, record.created_at, audit=audit))
        self._notify(observers.CREATED, record.kind)
        self._notify(observers.EVICTED, "limit", len(evicted))
        return Session(record, token, self.codec)

    async def get(self, token: str | None, *, client: ClientInfo | None = None) -> Session | None:
        """The live session for a token, its idle timeout restarted (at most once per `touch_interval`); None for an
        unknown, expired or malformed token (a malformed one never reaches the store).

        Given the request's `client`, the read also watches for abuse (docs/security.md), at no cost to a read
        that finds its session with the client it was bound to: unknown tokens are counted per client address
        (raising TokenThrottled when `token_abuse_throttle` is on and the address is over the threshold), a
        rotated-away token is reported as possible theft, and `session.risk` compares the client with the
        session's, applying `risk_policy` from `risk_threshold` up.
        """
        if self.settings.token_abuse_throttle and token is not None and client is not None and client.ip:
            retry_after = self.token_abuse.retry_after(client.ip, self._clock())
            if retry_after is not None:
                self._notify(observers.TOKEN_ABUSE, "throttled")
                raise TokenThrottled(retry_after)
        session_id = session_id_for(token)
        if session_id is None:
            if token is not None:
                self._notify(observers.TOKEN_REJECTED, "malformed")
            return None
        now = self._now()
        record = await self._timed("get", self.backend.load(session_id, now, touch_interval=self._touch_interval()))
        if record is None:
            await self._reject_unknown_token(client)
            return None
        if record is ROTATED_AWAY:
            await self._report_rotated_away(session_id, client, now)
            return None
        session = Session(record, token, self.codec)
        if client is None:
            return session
        # The client object the session was created with (ClientInfo.of shares one per client) is no risk at all.
        bound = record.client
        session.risk = risk = NO_RISK if bound is client else assess(bound, client.bounded())
        if risk is not NO_RISK and risk.at_least(self.settings.risk_threshold):
            return await self._apply_risk(session, risk, record, client, now)
        return session

    def get_from_memory(self, token: str | None, *, client: ClientInfo | None = None) -> Session | None:
        """The session `get` would give, when the store answers it from this process's memory (`SessionStore.cached`:
        Redis's client cache, kept in step by Redis) and the read asks for nothing else (no touch due, no risk to
        act on, no throttling); None when only `get` can tell. Sync and safe from another thread than the manager's
        loop, for the sync API: a hit costs no trip to the loop."""
        if self.settings.token_abuse_throttle:
            return None  # the throttle's counts belong to the loop's thread
        session_id = session_id_for(token)
        if session_id is None:
            return None
        started = time.perf_counter()
        record = self.backend.cached(session_id, self._now(), self._touch_interval())
        if record is None:
            return None
        session = Session(record, token, self.codec)
        if client is not None:
            bound = record.client
            session.risk = risk = NO_RISK if bound is client else assess(bound, client.bounded())
            if risk is not NO_RISK and risk.at_least(self.settings.risk_threshold):
                return None  # acting on it may write: `get` does
        for observer in self.observers:
            observer.operation_finished("get", self.backend.name, time.perf_counter() - started)
        return session

    async def save(self, session: Session) -> bool:
        """Write the data keys that changed since the session was loaded (nested changes included) and delete the
        removed ones. Returns False when nothing changed (and nothing was sent to the store).

        Raises SessionDataError before writing anything for data that cannot be stored, and SessionNotFound when
        the session expired or was deleted, revoked or rotated meanwhile: a save never brings a session back.
        """
        changes = self.pending_changes(session)
        return await self.write_changes(session, changes) if changes else False

    def pending_changes(self, session: Session) -> DataChanges:
        """What `save` would write: empty when nothing changed. Raises SessionDataError for data that cannot be
        stored. No store call, so a caller on another thread (the sync API) skips a save that has nothing to do."""
        data, max_bytes = session.data, self.settings.max_data_bytes
        if data.unchanged(max_bytes):  # most requests: one encoding of the whole data, no DataChanges
            return NO_CHANGES
        return data.pending_changes(max_bytes)

    async def write_changes(self, session: Session, changes: DataChanges) -> bool:
        """The second half of `save`: write `changes`, as `pending_changes` gave them."""
        if not await self._timed("save", self.backend.update(session.id, changes, self._now())):
            raise SessionNotFound(f"session {session.id} no longer exists; its changes were not saved")
        session.data.mark_saved(changes)
        return True

    async def rotate(self, token: str | None, *, client: ClientInfo | None = None, reason: str = "rotated") -> Session:
        """Move the session to a new token (same data, user and deadlines); the old token stops working at once.

        If the old token is presented again later, that is reported as possible theft (`rotated_token_policy`).
        """
        session_id = session_id_or_not_found(token, "rotate")
        rotated_token = new_token(session_id[:2])
        rotated_id = session_id_for(rotated_token)
        assert rotated_id is not None
        audit = self._audit(events.USER, reason, client)
        record = await self._timed("rotate", self.backend.rotate(session_id, rotated_id, self._now(), audit=audit))
        if record is None:
            raise SessionNotFound(f"cannot rotate session {session_id}: it no longer exists")
        self._notify(observers.ROTATED, record.kind)
        return Session(record, rotated_token, self.codec)

    async def login(
        self,
        token: str | None,
        user_id: str,
        *,
        client: ClientInfo | None = None,
        data: SessionData | Mapping[str, Any] | None = None,
        remember: bool | None = None,
    ) -> Session:
        """Sign `user_id` in with a brand-new token (never the one the client had: session fixation protection).

        The previous session, if any, is ended; its data carries over when it was anonymous or already this
        user's. It is an authentication: `authenticated_at` is now and the absolute timeout starts again. The
        user's session limit applies.

        `data` is the data the application holds for the previous session (`session.data`), or a fresh `SessionData`
        when there is none: its unsaved changes are written in the same atomic step, wherever the previous data
        goes (into the new session, or nowhere when that session belongs to someone else or ended meanwhile). A
        plain mapping, as `create` takes, sets its keys the same way and removes none.

        `remember` is the user's "remember me" choice: True gives the sign-in `remember_ttl` (its idle and absolute
        timeout) and a cookie that outlives the browser; False a browser-session cookie with the usual timeouts;
        None (not asked) leaves both to the settings.
        """
        return await self._login(token, _check_user_id(user_id), client, data, remember, reason="")

    async def _login(
        self,
        token: str | None,
        user_id: str,
        client: ClientInfo | None,
        data: SessionData | Mapping[str, Any] | None,
        remember: bool | None,
        *,
        reason: str,
    ) -> Session:
        if data is not None and not isinstance(data, SessionData):
            data = SessionData.fresh(data, self.codec)
        changes = data.pending_changes(self.settings.max_data_bytes) if data is not None else None
        previous_id = session_id_for(token) if token is not None else None
        new = new_token(bucket_for_user(user_id))
        record = self._new_record(new, user_id, "user", client, self._now(), remembered=remember)
        audit = self._audit(events.USER, reason, record.client)
        limit = self._limit_for(user_id)
        call = self.backend.login(previous_id, record, limit, record.created_at, changes=changes, audit=audit)
        stored, evicted = await self._limited("login", call)
        self._notify(observers.CREATED, stored.kind)
        self._notify(observers.EVICTED, "limit", len(evicted))
        return Session(stored, new, self.codec)

    async def reauthenticated(
        self,
        token: str | None,
        *,
        client: ClientInfo | None = None,
        data: SessionData | Mapping[str, Any] | None = None,
    ) -> Session:
        """The user of this session proved who they are again (password, second factor): the session moves to a new
        token, as on login, with `authenticated_at` now and a new absolute lifetime, keeping its data, kind and
        messages (`data`'s unsaved changes are written in the same step, as `login` does). Call it when a step-up
        check (`sessionhub.asgi.require_recent_authentication`) asked for one.

        Raises SessionNotFound when the session ended, and SessionDataError when it is anonymous (sign in instead).
        """
        session_id = session_id_or_not_found(token, "reauthenticate")
        record = await self._timed("peek", self.backend.peek(session_id, self._now()))
        if record is None:
            raise SessionNotFound(f"cannot re-authenticate session {session_id}: it no longer exists")
        if record.user_id is None:
            raise SessionDataError("an anonymous session cannot be re-authenticated: sign the user in with login")
        return await self._login(token, record.user_id, client, data, record.remembered, reason="reauthenticated")

    def authentication_age(self, session: Session) -> float | None:
        """Seconds since the session's user last signed in or re-authenticated, by this manager's clock; None for an
        anonymous session. What a step-up check compares with its limit."""
        at = session._authenticated_at  # milliseconds, as the manager's clock counts
        return None if at is None else max(0, self._now() - at) / 1000

    async def delete(self, token: str | None, *, client: ClientInfo | None = None) -> bool:
        """End the session of this token (logout). True when a live session was deleted."""
        session_id = session_id_for(token)
        if session_id is None:
            return False
        return await self._end(session_id, self._audit(events.USER, "logout", client), "logout")

    async def revoke(
        self, session_id: str, *, actor: str = events.USER, reason: str = "revoked", client: ClientInfo | None = None
    ) -> bool:
        """End a session by its public id (from a "my sessions" list, or the admin CLI with `actor="admin"`)."""
        if not is_session_id(session_id):
            return False
        return await self._end(session_id, self._audit(actor, reason, client), "revoked")

    async def list_user_sessions(self, user_id: str) -> list[Session]:
        """The user's live sessions, most recently active first, without tokens."""
        records = await self._timed("list_user_sessions", self.backend.list_user(_check_user_id(user_id), self._now()))
        records.sort(key=lambda record: record.last_active_at, reverse=True)
        return [Session(record, None, self.codec) for record in records]

    async def browse_sessions(
        self,
        *,
        after: str | None = None,
        limit: int = 50,
        kind: str | None = None,
        user_id: str | None = None,
        idle_for: float | None = None,
    ) -> tuple[list[Session], str | None]:
        """Live sessions a page at a time, by id, without tokens (for operators): up to `limit` sessions after the
        id `after` that match the filters (`kind`; `user_id`, read from the user's index rather than every
        session; `idle_for`: idle at least that many seconds), and the id to pass as `after` for the next page,
        None after the last."""
        if not isinstance(limit, int) or limit < 1:
            raise SessionDataError("limit must be a positive int")
        if after is not None and not is_session_id(after):
            raise SessionDataError("after must be a session id, as Session.id gives it")
        now = self._now()
        idle_ms = None if idle_for is None else int(idle_for * 1000)

        def wanted(record: SessionRecord) -> bool:
            idle_enough = idle_ms is None or now - record.last_active_at >= idle_ms
            return (kind is None or record.kind == kind) and idle_enough

        if user_id is not None:
            records = await self._timed("list_user_sessions", self.backend.list_user(_check_user_id(user_id), now))
            later = sorted((r for r in records if after is None or r.id > after), key=lambda record: record.id)
            matching = [record for record in later if wanted(record)]
            page = matching[:limit]
            next_after = page[-1].id if len(matching) > limit else None
            return [Session(record, None, self.codec) for record in page], next_after
        browser = self._browser()
        found: list[Session] = []
        while True:
            scanned = await self._timed("browse_sessions", browser.browse(now, after=after, limit=limit))
            for record in scanned:
                after = record.id
                if wanted(record):
                    found.append(Session(record, None, self.codec))
                    if len(found) == limit:
                        return found, after
            if len(scanned) < limit:
                return found, None

    async def revoke_user_sessions(
        self,
        user_id: str,
        *,
        except_session_id: str | None = None,
        actor: str = events.USER,
        reason: str | None = None,
        client: ClientInfo | None = None,
    ) -> int:
        """End every session of the user ("sign out everywhere"), or every one but `except_session_id` ("sign out
        my other devices"). Returns how many were ended."""
        if except_session_id is not None and not is_session_id(except_session_id):
            raise SessionDataError("except_session_id must be a session id, as Session.id gives it")
        scope = "sign_out_everywhere" if except_session_id is None else "sign_out_other_devices"
        audit = self._audit(actor, reason or scope, client)
        call = self.backend.delete_user(_check_user_id(user_id), self._now(), except_id=except_session_id, audit=audit)
        removed = await self._timed("revoke_user_sessions", call)
        self._notify(observers.REVOKED, scope, len(removed))
        return len(removed)

    # -- security monitoring (docs/security.md) -----------------------------------------------------------------

    async def security_events(self, user_id: str, *, limit: int = 50) -> list[SecurityEvent]:
        """The user's security log, newest first: sign-ins, rotations, revocations with reason and actor,
        evictions, limits reached, risk flags and token reuse, from the last `security_log_ttl` seconds.
        Anonymous sessions have no log."""
        if not isinstance(limit, int) or limit < 1:
            raise SessionDataError("limit must be a positive int")
        limit = min(limit, self.settings.security_log_max_events)
        if limit == 0:
            return []
        since = self._now() - int(self.settings.security_log_ttl * 1000)
        return await self._timed(
            "security_events",
            self._security_log().security_events(_check_user_id(user_id), since=since, limit=limit),
        )

    # -- operations ---------------------------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        return {
            "backend": self.backend.name,
            "active_sessions": await self._timed("stats", self.backend.count(self._now())),
            "session_ttl": self.settings.session_ttl,
            "absolute_ttl": self.settings.absolute_ttl,
            "max_sessions_per_user": self.settings.max_sessions_per_user,
            "limit_policy": self.settings.limit_policy,
            **self.backend.stats(),
        }

    async def health(self) -> dict[str, Any]:
        return await self.backend.health()

    # -- admin reads and legacy sessions (sessionhub.legacy, sessionhub.migrate) -------------------------------

    async def peek(self, session_id: str) -> Session | None:
        """A live session by its public id, for admin tools, without a token. Unlike `get` it does not restart the
        idle timeout: looking at a session must not keep it alive."""
        if not is_session_id(session_id):
            return None
        record = await self.backend.peek(session_id, self._now())
        return Session(record, None, self.codec) if record is not None else None

    async def adopt_legacy(self, legacy_token: str | None) -> Session | None:
        """The migrated session a legacy cookie value reaches, moved to a fresh sessionhub token; None when there is
        none (never migrated, ended, or already adopted: the alias works once). Set the new token's cookie and clear
        the legacy one."""
        alias_id = legacy_alias_id(legacy_token)
        if alias_id is None:
            return None
        now = self._now()
        legacy = self._legacy()
        session_id = await legacy.resolve_alias(alias_id, now)
        if session_id is None and self.legacy_fallback is not None and isinstance(legacy_token, str):
            session_id = await self._read_through(legacy_token, now)
        if session_id is None or not is_session_id(session_id):
            return None
        token = new_token(bucket_of(session_id))
        new_session_id = session_id_for(token)
        assert new_session_id is not None
        record = await legacy.adopt(alias_id, session_id, new_session_id, now)
        return Session(record, token, self.codec) if record is not None else None

    async def adopt_legacy_cookies(
        self, cookies: Mapping[str, str], names: Sequence[str] | None = None
    ) -> tuple[Session | None, list[str]]:
        """For an integration, on a request with no live sessionhub session: the session adopted through the first of
        its legacy cookies (`names`, by default `legacy_cookie_names`) that resolves, and the names of the legacy
        cookies it carries, all of which the response should clear: one that resolves to nothing (never migrated,
        expired, already adopted) cannot work again either."""
        present = [name for name in (self.settings.legacy_cookie_names if names is None else names) if name in cookies]
        for name in present:
            session = await self.adopt_legacy(cookies[name])
            if session is not None:
                return session, present
        return None, present

    async def _read_through(self, legacy_token: str, now: int) -> str | None:
        """Import the legacy session of this cookie straight from its legacy store, as a migration would: the id of
        the migrated session to adopt, or None (none there, or one that cannot be stored, or one that a migration
        imported and that was adopted or ended since)."""
        assert self.legacy_fallback is not None
        found = await self.legacy_fallback.fetch(legacy_token, now)
        if found is None:
            return None
        try:
            prepared = self.prepare_import(found)
        except SessionDataError as exc:
            logger.warning("a legacy session cannot be read through: %s", exc, extra={"event": "read_through_invalid"})
            return None
        if prepared is None:
            return None
        [outcome] = await self.import_sessions([prepared])
        return prepared.record.id if outcome in ("new", "updated", "unchanged") else None

    def prepare_import(self, legacy: LegacySession) -> ImportedSession | None:
        """The record to store for a legacy session, checked and encoded like `create` would; None when the legacy
        store would have ended it by now. Raises SessionDataError saying what cannot be stored.

        Its remaining lifetime is kept: the idle deadline is the legacy one (from now plus the idle timeout when it
        had none), and the absolute deadline is never before it, so nobody is signed out by the move. Its messages
        are checked as `append_message` checks them, the newest `max_messages` kept.
        """
        user_id = _check_user_id(legacy.user_id) if legacy.user_id is not None else None
        kind = _check_kind(legacy.kind)
        changes = SessionData.fresh(legacy.data, self.codec).pending_changes(self.settings.max_data_bytes)
        now = self._now()
        if legacy.expires_at is not None and legacy.expires_at < now + MIN_IMPORT_REMAINING_MS:
            return None
        idle, absolute = self._timeouts(kind)
        created = min(legacy.created_at if legacy.created_at is not None else now, now)
        last_active = legacy.last_active_at if legacy.last_active_at is not None else created
        expires = legacy.expires_at if legacy.expires_at is not None else now + min(idle, absolute)
        record = SessionRecord(
            id=migrated_session_id(legacy.alias_id, user_id),
            user_id=user_id,
            kind=kind,
            created_at=created,
            last_active_at=min(max(last_active, created), now),
            expires_at=expires,
            absolute_expires_at=max(created + absolute, expires),
            idle_ttl=idle,
            client=legacy.client.bounded(),
            data=changes.updated,
            # A legacy store keeps no sign-in time: the session's creation is the latest one it can vouch for.
            authenticated_at=created if user_id is not None else None,
        )
        limit = self.settings.max_message_length
        kept = legacy.messages[-self.settings.max_messages :]
        messages = tuple(encode_message(message.role, message.content, message.at, limit) for message in kept)
        return ImportedSession(record, legacy.alias_id, legacy.source_digest, messages)

    async def import_sessions(self, imports: Sequence[ImportedSession]) -> list[ImportOutcome]:
        """Store prepared legacy sessions, or bring those imported before up to date (see `ImportOutcome`)."""
        legacy = self._legacy()
        return await legacy.import_sessions(imports, self._now()) if imports else []

    async def import_markers(self, session_ids: Sequence[str]) -> list[ImportMarker | None]:
        """What became of each imported session, and the digest of the source record it came from (None: never
        imported)."""
        legacy = self._legacy()
        return await legacy.import_markers(session_ids, self._now()) if session_ids else []

    # -- internals ----------------------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock() * 1000)

    # -- internals: the touch interval (a read slides the idle deadline only when one is due) ------------------

    def _touch_interval(self) -> int:
        """`touch_interval` in milliseconds, as the backends take it (`SessionRecord.touch_due`)."""
        return int(self.settings.touch_interval * 1000)

    # -- internals: security monitoring -------------------------------------------------------------------------

    def _audit(self, actor: str, reason: str, client: ClientInfo | None) -> Audit:
        client = (client or ClientInfo()).bounded()
        return Audit(
            actor=actor,
            reason=reason,
            ip=client.ip,
            device=device_family(client.user_agent),
            max_events=self.settings.security_log_max_events,
            ttl=int(self.settings.security_log_ttl * 1000),
        )

    async def _end(self, session_id: str, audit: Audit, label: str) -> bool:
        """Delete a session; `label` is the observers' word for why (the audit's reason may be free text)."""
        ended = await self._timed("delete", self.backend.delete(session_id, self._now(), audit=audit))
        if ended:
            self._notify(observers.REVOKED, label)
        return ended

    async def _reject_unknown_token(self, client: ClientInfo | None) -> None:
        """Count a well-formed token that matched no session. Only these count toward abuse: a guess has to be
        well-formed to match anything, while a malformed cookie (another application's, a legacy store's) costs no
        store call and must not get its owner throttled. The store counts for every process when it can
        (`SharedAbuseCounter`, one more call on this path only); else this process counts alone."""
        self._notify(observers.TOKEN_REJECTED, "unknown")
        if client is None or not client.ip:
            return
        if await self._count_unknown_token(client.ip):
            self._notify(observers.TOKEN_ABUSE, "burst")
            security_logger.warning(
                "%d unknown session tokens from %s within %g s (possible session-id guessing)",
                self.settings.token_abuse_threshold,
                client.ip,
                self.settings.token_abuse_window,
                extra={"event": "token_abuse", "client_ip": client.ip, "seconds": self.settings.token_abuse_window},
            )

    async def _count_unknown_token(self, ip: str) -> bool:
        """Count one unknown token from `ip`; True when it makes a burst (reported once)."""
        now = self._clock()
        if isinstance(self.backend, SharedAbuseCounter):
            window = int(self.settings.token_abuse_window * 1000)
            try:
                count, remaining = await self._timed(
                    "count_unknown_token", self.backend.count_unknown_token(ip, window=window)
                )
            except BackendUnavailable:
                pass  # counted in this process, as on the memory store
            else:
                return self.token_abuse.shared(ip, count, remaining / 1000, now)
        return self.token_abuse.record(ip, now)

    async def _report_rotated_away(self, session_id: str, client: ClientInfo | None, now: int) -> None:
        """A token whose session was rotated away: presented again after the grace period it is possible theft;
        within it, a request that was in flight during the rotation, counted like an unknown token."""
        revoke = self.settings.rotated_token_policy == "revoke"  # noqa: S105 (a policy name)
        audit = self._audit(events.SYSTEM, "token_reused", client)
        grace = int(self.settings.rotated_token_grace * 1000)
        if not isinstance(self.backend, SecurityLog):  # a store without one does not say which token was rotated
            await self._reject_unknown_token(client)
            return
        call = self.backend.report_reuse(session_id, now, grace=grace, revoke=revoke, audit=audit)
        rotated_into = await self._timed("report_reuse", call)
        if rotated_into is None:
            await self._reject_unknown_token(client)
            return
        self._notify(observers.TOKEN_REUSED, self.settings.rotated_token_policy)
        if revoke:
            self._notify(observers.REVOKED, "token_reused")
        security_logger.warning(
            "the token of session %s was rotated into %s and is presented again (possible theft)%s",
            session_id,
            rotated_into,
            "; that session is revoked" if revoke else "",
            extra={
                "event": "token_reuse",
                "session_id": session_id,
                "rotated_into": rotated_into,
                "client_ip": client.ip if client is not None else None,
            },
        )

    async def _apply_risk(
        self, session: Session, risk: Risk, record: SessionRecord, client: ClientInfo, now: int
    ) -> Session | None:
        """Act on a risk at or over `risk_threshold`: record it, then apply `risk_policy`."""
        self._notify(observers.RISK_FLAGGED, risk.level)
        reasons = ", ".join(risk.reasons)
        if self.settings.risk_policy == "revoke":
            await self._end(session.id, self._audit(events.SYSTEM, f"risk {risk.level}: {reasons}", client), "risk")
            security_logger.warning(
                "session %s revoked: %s risk (%s)",
                session.id,
                risk.level,
                reasons,
                extra={"event": "risk_revoked", "session_id": session.id, "client_ip": client.ip},
            )
            return None
        if record.flagged_client != risk.signature and isinstance(self.backend, SecurityLog):
            audit = self._audit(events.SYSTEM, reasons, client)
            await self._timed(
                "flag_risk", self.backend.flag_risk(session.id, risk.signature, risk.level, now, audit=audit)
            )
        session.reauthenticate = self.settings.risk_policy == "reauthenticate"
        return session

    def _timed(self, operation: str, call: Awaitable[T]) -> Awaitable[T]:
        """A backend call that tells the observers how long it took; without observers, the call itself (no timing,
        no extra coroutine: this is on every request's path)."""
        return self._observed(operation, call) if self.observers else call

    async def _observed(self, operation: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            return await call
        finally:
            elapsed = time.perf_counter() - started
            for observer in self.observers:
                observer.operation_finished(operation, self.backend.name, elapsed)

    async def _limited(self, operation: str, call: Awaitable[T]) -> T:
        try:
            return await self._timed(operation, call)
        except SessionLimitExceeded:
            self._notify(observers.LIMIT_REFUSED, "reject")
            raise

    def _notify(self, event: str, label: str, count: int = 1) -> None:
        if count:
            for observer in self.observers:
                observer.session_event(event, label, count)

    def _limit_for(self, user_id: str | None) -> UserLimit | None:
        limit = self.settings.max_sessions_per_user
        if user_id is None or limit is None:
            return None
        return UserLimit(max_sessions=limit, evict_oldest=self.settings.limit_policy == "evict_oldest")

    def _timeouts(self, kind: str) -> tuple[int, int]:
        """Idle and absolute timeouts, in milliseconds, for a session of `kind` (Settings.idle_ttl_for)."""
        return int(self.settings.idle_ttl_for(kind) * 1000), int(self.settings.absolute_ttl * 1000)

    def _remember_ttl(self) -> int:
        return int(self.settings.remember_ttl * 1000)

    def _missing(self, feature: str) -> ConfigurationError:
        """The error for a feature that needs a capability the store lacks (backends/base.py)."""
        return ConfigurationError(f"the {self.backend.name} store keeps no {feature}")

    def _security_log(self) -> SecurityLog:
        if isinstance(self.backend, SecurityLog):
            return self.backend
        raise self._missing("security log")

    def _browser(self) -> SessionBrowser:
        if isinstance(self.backend, SessionBrowser):
            return self.backend
        raise self._missing("list of every session")

    def _legacy(self) -> LegacyStore:
        if isinstance(self.backend, LegacyStore):
            return self.backend
        raise self._missing("migrated legacy sessions")

    def _new_record(
        self,
        token: str,
        user_id: str | None,
        kind: str,
        client: ClientInfo | None,
        now: int,
        authenticated_at: int | None = None,
        remembered: bool | None = None,
    ) -> SessionRecord:
        session_id = session_id_for(token)
        assert session_id is not None
        # A remembered sign-in lasts remember_ttl however idle; every other session has its kind's timeouts.
        idle, absolute = (self._remember_ttl(),) * 2 if remembered else self._timeouts(kind)
        client = (client or ClientInfo()).bounded()
        return SessionRecord.new(
            session_id, user_id=user_id, kind=kind, client=client, now=now, idle_ttl=idle, absolute_ttl=absolute,
            authenticated_at=authenticated_at, remembered=remembered,
        )  # fmt: skip
