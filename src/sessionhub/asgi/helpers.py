"""What a handler calls: the full session, and sign-in, sign-out, token rotation and switching sessions, which the
cookie follows."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from sessionhub.asgi.state import RISK_KEY, SCOPE_KEY, RequestSession
from sessionhub.model import Session
from sessionhub.risk import Risk


def get_session(connection: HTTPConnection) -> Session | None:
    """The request's stored session (id, user, timestamps, `data` which is `request.session`), or None while there
    is none: a visitor's session is stored when something is first written into `request.session`."""
    return request_session(connection).session


async def login(connection: HTTPConnection, user_id: str, *, remember: bool | None = None) -> Session:
    """Sign `user_id` in: a new session and token (the old token stops working), keeping what the session held,
    including what this request wrote before. `request.session` is the new session's data afterwards.

    `remember`: the user's "remember me" choice (`SessionManager.login`): True keeps them signed in for
    `remember_ttl` with a cookie that outlives the browser, False gives a browser-session cookie, None leaves it to
    the settings.

    Raises SessionLimitExceeded under the `reject` policy, with nothing changed.
    """
    state = request_session(connection, changing=True)
    session = await state.login(user_id, remember)
    connection.scope["session"] = state.data
    return session


async def switch_to(connection: HTTPConnection, session: Session) -> None:
    """Make `session`, one the handler created itself (say with `manager.create_demo_session`), the request's
    session: the previous one, if any, is deleted, and the cookie follows. `request.session` is the new session's
    data afterwards. Writes the handler made to the previous session's data are dropped with it.
    """
    state = request_session(connection, changing=True)
    await state.switch_to(session)
    connection.scope["session"] = state.data


async def reauthenticated(connection: HTTPConnection) -> Session:
    """The signed-in user proved who they are again (`SessionManager.reauthenticated`): a new token and absolute
    lifetime, `authenticated_at` now, everything else kept, including what this request wrote. The cookie follows.

    Raises SessionNotFound when the session ended, SessionDataError when nobody is signed in.
    """
    state = request_session(connection, changing=True)
    session = await state.reauthenticated()
    connection.scope["session"] = state.data
    return session


async def logout(connection: HTTPConnection) -> None:
    """End the session (deleted from the store, cookie cleared). Data written afterwards starts a new session."""
    state = request_session(connection, changing=True)
    await state.logout()
    connection.scope["session"] = state.data


async def rotate(connection: HTTPConnection) -> Session | None:
    """Move the session to a new token, keeping everything else (do this when its privileges change). Returns
    None when there is no stored session, or when it ended meanwhile (then the cookie is cleared)."""
    state = request_session(connection, changing=True)
    session = await state.rotate()
    connection.scope["session"] = state.data
    return session


def session_risk(connection: HTTPConnection) -> Risk | None:
    """How this request's client compares with the one its session was made for (docs/security.md), or None
    when the request has no session."""
    risk = connection.scope.get(RISK_KEY)
    return risk if isinstance(risk, Risk) else None


def needs_reauthentication(connection: HTTPConnection) -> bool:
    """True when `risk_policy="reauthenticate"` flagged this request: confirm the user's identity (password,
    second factor) before going on; signing in again binds the new client."""
    session = request_session(connection).session
    return session is not None and session.reauthenticate


def request_session(connection: HTTPConnection, *, changing: bool = False) -> RequestSession:
    """The middleware's state for this request (`changing`: for a helper that sets the cookie, so HTTP only)."""
    state = connection.scope.get(SCOPE_KEY)
    if not isinstance(state, RequestSession):
        raise RuntimeError("sessionhub.asgi.SessionMiddleware is not installed, or excludes this path")
    if changing and connection.scope["type"] != "http":
        raise RuntimeError("login, logout and rotate need an HTTP request: a websocket cannot set the cookie")
    return state
