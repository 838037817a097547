"""Authentication from the session: `request.user` for Starlette's AuthenticationMiddleware, and a guard that answers
401 for every path that is not public."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from sessionhub.asgi.paths import PathPrefixes
from sessionhub.asgi.state import SCOPE_KEY, RequestSession
from sessionhub.asgi.token_header import TokenHeader, header_transport
from sessionhub.cookies import CookiePolicy
from sessionhub.manager import SessionManager
from sessionhub.model import Session

POLICY_VIOLATION = 1008
"""Websocket close code for a connection refused by policy (RFC 6455)."""


class SessionUser(BaseUser):
    """A signed-in user as Starlette sees it: the identity is the user id the application passed to `login`."""

    def __init__(self, user_id: str, session_id: str) -> None:
        self.user_id = user_id
        self.session_id = session_id

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.user_id

    @property
    def identity(self) -> str:
        return self.user_id

    def __repr__(self) -> str:
        return f"SessionUser(user_id={self.user_id!r}, session_id={self.session_id!r})"


class SessionAuthBackend(AuthenticationBackend):
    """Signed in means a session with a user. Under SessionMiddleware it reuses the session the middleware loaded
    (no extra round trip); on its own it reads the token where the manager's settings say (`session_transport`:
    the cookie, the header, or the header when sent and the cookie otherwise)."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.cookie = CookiePolicy.from_settings(manager.settings)
        self.token_header = TokenHeader(manager.settings.session_token_header)

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        session = await self._session(conn)
        if session is None or session.user_id is None:
            return None
        return AuthCredentials(["authenticated"]), SessionUser(session.user_id, session.id)

    async def _session(self, conn: HTTPConnection) -> Session | None:
        request_session = conn.scope.get(SCOPE_KEY)
        if isinstance(request_session, RequestSession):
            return request_session.session
        headers = conn.scope["headers"]
        by_header, token = header_transport(self.manager.settings.session_transport, self.token_header, headers)
        return await self.manager.get(token if by_header else self.cookie.token_in(headers))


class RequireAuthentication:
    """Answer 401 (a JSON body) to HTTP requests, and close websockets, that are not signed in, except on public
    paths. Needs `scope["user"]` from AuthenticationMiddleware further out."""

    def __init__(self, app: ASGIApp, public_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.public_paths = PathPrefixes(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or scope["path"] in self.public_paths
            or scope["user"].is_authenticated
        ):
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await JSONResponse({"detail": "Not authenticated"}, status_code=401)(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": "Not authenticated"})


def add_auth_middleware(app: Starlette, manager: SessionManager, *, public_paths: Iterable[str] = ()) -> None:
    """Require a signed-in session everywhere but `public_paths` (each covers the path and everything under it),
    and give handlers `request.user` (a `SessionUser`, or Starlette's `UnauthenticatedUser` on public paths).

    Installed innermost, inside SessionMiddleware however the two are added, so the session is loaded once.
    """
    if app.middleware_stack is not None:
        raise RuntimeError("add_auth_middleware must be called before the application starts")
    app.user_middleware += [
        Middleware(AuthenticationMiddleware, backend=SessionAuthBackend(manager)),
        Middleware(RequireAuthentication, public_paths=list(public_paths)),
    ]
