"""SessionMiddleware: a pure ASGI middleware giving every request `scope["session"]`, backed by a SessionManager."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import Final, Literal, TypeVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionhub.asgi.paths import PathPrefixes
from sessionhub.asgi.state import RISK_KEY, SCOPE_KEY, RequestSession, logger
from sessionhub.asgi.token_header import RESPONSE_HEADER, TokenHeader, header_transport
from sessionhub.client import ClientInfo
from sessionhub.cookies import CookiePolicy, cookies_in
from sessionhub.errors import BackendUnavailable, SessionHubError, TokenThrottled
from sessionhub.manager import SessionManager
from sessionhub.settings import Transport


class _Unset(enum.Enum):
    """The type of UNSET: an option left to the settings (None means something for `max_age`)."""

    UNSET = "unset"


UNSET: Final = _Unset.UNSET

T = TypeVar("T")


def _one_of(name: str, value: T | None, starlette_name: str, starlette_value: T | None) -> T | None:
    if value is not None and starlette_value is not None:
        raise TypeError(f"give {name} or {starlette_name} (Starlette's spelling), not both")
    return value if value is not None else starlette_value


class SessionMiddleware:
    """Load the session named by the cookie before the handler; save its changes and set the cookie after.

    `scope["session"]` (Starlette's `request.session`) is the session's data as a dict; `sessionhub.asgi`'s
    `get_session`, `login`, `logout` and `rotate` reach the rest. Cookie attributes come from the manager's
    settings; keyword arguments (`name`, `secure`, `samesite`, `domain`, `path`, `host_prefix`, `max_age`, or
    Starlette's `session_cookie`, `https_only`, `same_site`) override them. `request.session.clear()` signs out,
    as with Starlette's middleware.

    API clients send the token in a header instead (`transport`, `token_header`; sessionhub.asgi.token_header):
    `Authorization: Bearer <token>`, with new tokens in the `Session-Token` response header. A request uses the
    cookie or the header, never both.

    - `exclude_paths`: prefixes (each covering the path and everything under it) that never touch sessions, such
      as "/static" or "/health"; their requests have no `scope["session"]`.
    - `trusted_proxy_hops`: how many reverse proxies of yours append to X-Forwarded-For in front of the app. With
      the default 0 the header is ignored (any client can forge it) and the connection's address is recorded.

    Websocket connections get the session loaded and readable; their changes are not saved (a websocket cannot
    set a cookie), so write to the session in HTTP requests.

    Security monitoring (docs/security.md): each request's client goes to the manager, which compares it with the
    session's; `scope["session_risk"]` holds the result (see `session_risk` and `needs_reauthentication`). With
    `token_abuse_throttle`, an address over the unknown-token threshold gets 429 (a websocket is closed) and the
    application is not called. With `clear_site_data_on_logout`, a response that ends the session asks the browser
    to clear the site's cookies, storage and cache.
    """

    def __init__(
        self,
        app: ASGIApp,
        manager: SessionManager,
        *,
        exclude_paths: Iterable[str] = (),
        trusted_proxy_hops: int = 0,
        name: str | None = None,
        secure: bool | None = None,
        samesite: Literal["lax", "strict", "none"] | None = None,
        domain: str | None = None,
        path: str | None = None,
        host_prefix: bool | None = None,
        max_age: int | _Unset | None = UNSET,
        session_cookie: str | None = None,
        https_only: bool | None = None,
        same_site: Literal["lax", "strict", "none"] | None = None,
        transport: Transport | None = None,
        token_header: str | None = None,
    ) -> None:
        """The cookie options (`name`, `secure`, ...) override the `session_cookie_<option>` settings for this app
        and are validated like them. Starlette's SessionMiddleware spellings work too: `session_cookie` (name),
        `https_only` (secure), `same_site` (samesite) and `max_age` (seconds the cookie lives at most, never past
        the session's absolute deadline; None: a browser-session cookie). `transport` and `token_header` override
        `session_transport` and `session_token_header`."""
        if trusted_proxy_hops < 0:
            raise ValueError("trusted_proxy_hops must be 0 or more")
        self.app = app
        self.manager = manager
        overrides: dict[str, object] = {
            "name": _one_of("name", name, "session_cookie", session_cookie),
            "secure": _one_of("secure", secure, "https_only", https_only),
            "samesite": _one_of("samesite", samesite, "same_site", same_site),
            "domain": domain, "path": path, "host_prefix": host_prefix,
        }  # fmt: skip
        if max_age is None:
            overrides["persistent"] = False
        elif not isinstance(max_age, _Unset):
            overrides |= {"persistent": True, "max_age": max_age}
        given = {option: value for option, value in overrides.items() if value is not None}
        self.cookie = CookiePolicy.from_settings(manager.settings, **given)
        self.transport: Transport = transport if transport is not None else manager.settings.session_transport
        self.token_header = TokenHeader(
            token_header if token_header is not None else manager.settings.session_token_header
        )
        self.exclude_paths = PathPrefixes(exclude_paths)
        self.trusted_proxy_hops = trusted_proxy_hops
        # Looked up once (settings are frozen) rather than on every request.
        self._excludes_paths = bool(self.exclude_paths)
        self._legacy_names = manager.settings.legacy_cookie_names
        self._clear_site_data = manager.settings.clear_site_data_on_logout
        # Read in one pass over the Cookie headers; a websocket never adopts a legacy session (see __call__).
        unprefixed = (self.cookie.unprefixed_name,) if self.cookie.unprefixed_name is not None else ()
        self._http_cookie_names = frozenset((self.cookie.name, *self._legacy_names, *unprefixed))
        # Every response depends on what carries the token: a shared cache must not serve one client's to another.
        varies = {"cookie": ("Cookie",), "header": (self.token_header.name,)}
        self._vary = varies.get(self.transport, ("Cookie", self.token_header.name))
        self._vary_line = (b"vary", ", ".join(self._vary).encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or (self._excludes_paths and scope["path"] in self.exclude_paths):
            await self.app(scope, receive, send)
            return

        client = client_info(scope, self.trusted_proxy_hops)
        by_header, header_token = header_transport(self.transport, self.token_header, scope["headers"])
        if by_header:
            request_session = RequestSession(self.manager, self.cookie, header_token, client)
        else:
            request_session = self._from_cookies(scope, client)
        try:
            await request_session.load()
        except TokenThrottled as exc:
            await _refuse(scope, send, 429, exc.retry_after, b"Too many unknown session cookies from this address.\n")
            return
        except BackendUnavailable as exc:
            # The session cannot be confirmed (the store failed, and nothing may answer for it): no 500, and no
            # request served as if it had no session, which would clear its cookie.
            logger.warning(
                "session store unavailable for this request: %s",
                exc,
                extra={"event": "request_refused_503", "client_ip": client.ip},
            )
            await _refuse(scope, send, 503, 1, b"The session store is unavailable; retry shortly.\n")
            return
        session = request_session.session
        scope[SCOPE_KEY] = request_session
        scope["session"] = request_session.data
        scope[RISK_KEY] = session.risk if session is not None else None
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        clear_site_data = self._clear_site_data

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Decided before the response head leaves: a failed save can still become a 500, and streamed bodies
                # are never held back.
                try:
                    await request_session.commit(message["status"])
                except SessionHubError as exc:
                    session = request_session.session
                    session_id = session.id if session else None
                    logger.error(
                        "could not save session %s: %s",
                        session_id or "(new)",
                        exc,
                        extra={"event": "save_failed", "session_id": session_id, "error": type(exc).__name__},
                    )
                    raise
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                message["headers"] = headers
                _vary_on(headers, self._vary, self._vary_line)
                if by_header:
                    _add_token_header(headers, request_session)
                else:
                    _add_cookie_headers(headers, request_session, clear_site_data)
            await send(message)

        await self.app(scope, receive, send_with_session)

    def _from_cookies(self, scope: Scope, client: ClientInfo) -> RequestSession:
        cookies = cookies_in(scope["headers"], self._http_cookie_names)
        sent_token = cookies.get(self.cookie.name)
        # The cookie under its name from before the default prefix: moved to the prefixed name by an HTTP response,
        # only read on a websocket.
        unprefixed_token = cookies.get(self.cookie.unprefixed_name) if self.cookie.unprefixed_name else None
        if sent_token is None and scope["type"] == "websocket":
            sent_token, unprefixed_token = unprefixed_token, None
        # Adopting rotates to a token only a response can deliver: never on a websocket.
        legacy_cookies = (
            {name: cookies[name] for name in self._legacy_names if name in cookies}
            if self._legacy_names and scope["type"] == "http"
            else None
        )
        return RequestSession(
            self.manager, self.cookie, sent_token, client, legacy_cookies, unprefixed_token=unprefixed_token
        )


def _vary_on(headers: list[tuple[bytes, bytes]], names: tuple[str, ...], line: tuple[bytes, bytes]) -> None:
    """Vary on what carries the token (`names`, all of them in `line`), even for a visitor without a session: a
    shared cache must not serve the response to someone signed in."""
    for header, _ in headers:
        if header == b"vary":
            break
    else:
        headers.append(line)  # most responses: no Vary yet
        return
    varied = _varied(headers)
    if b"*" in varied:
        return
    mutable = MutableHeaders(raw=headers)
    for name in names:
        if name.lower().encode("latin-1") not in varied:
            mutable.add_vary_header(name)


def _add_cookie_headers(
    headers: list[tuple[bytes, bytes]], request_session: RequestSession, clear_site_data: bool
) -> None:
    set_cookie = request_session.cookie_header()
    if set_cookie is None and not request_session.legacy_to_clear:
        return  # most responses: the browser keeps the cookie it has
    set_cookies = [set_cookie] if set_cookie is not None else []
    set_cookies += request_session.legacy_cookie_headers(setting_own_cookie=set_cookie is not None)
    mutable = MutableHeaders(raw=headers)
    for value in set_cookies:
        mutable.append("set-cookie", value)
    mutable["cache-control"] = "no-store"
    # Only when the response ends the session: clearing cookies would also drop one set by this response.
    if clear_site_data and request_session.logged_out and request_session.session is None:
        mutable["clear-site-data"] = '"cache", "cookies", "storage"'


def _add_token_header(headers: list[tuple[bytes, bytes]], request_session: RequestSession) -> None:
    token = request_session.issued_token
    if token is None and not request_session.token_ended:
        return  # most responses: the client keeps the token it has
    mutable = MutableHeaders(raw=headers)
    mutable[RESPONSE_HEADER] = token or ""  # empty: the session ended, drop the token
    mutable["cache-control"] = "no-store"


def _varied(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    return {field.strip().lower() for name, value in headers if name == b"vary" for field in value.split(b",")}


async def _refuse(scope: Scope, send: Send, status: int, retry_after: float, body: bytes) -> None:
    """Answer without calling the application: a throttled client (429), or no way to confirm the session (503)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"retry-after", str(max(1, math.ceil(retry_after))).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def client_info(scope: Scope, trusted_proxy_hops: int) -> ClientInfo:
    """The client as recorded on new sessions: the connection's address, or the one the outermost trusted proxy
    saw, and the user agent; cut to the sizes the store keeps."""
    client = scope.get("client")
    ip = client[0] if client else None
    user_agent = None
    for name, value in scope["headers"]:
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
            break
    if trusted_proxy_hops:
        forwarded = [
            hop.strip()
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
            if hop.strip()
        ]
        if len(forwarded) >= trusted_proxy_hops:
            ip = forwarded[-trusted_proxy_hops]
    return ClientInfo.of(ip, user_agent)
