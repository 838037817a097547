"""sessionhub for Flask (the `flask` extra): Flask's `session` becomes a sessionhub session.

    app = Flask(__name__)
    hub = SessionHub(app)        # settings from app.config (SESSIONHUB_REDIS_URL, ...), then the environment

    @app.post("/login")
    def sign_in():
        session["theme"] = "dark"     # Flask's own session object, as before
        login("amira")                # a new token for the user, the data kept
        return "ok"

The session is a dict as Flask's is. Changes are found by comparing what is stored, nested ones included, so
`session.modified` need not be set (setting it changes nothing). `session.permanent` chooses the cookie as in Flask:
False (Flask's default) a browser-session cookie, True one that lives until the session's absolute deadline; the
store enforces the idle and absolute timeouts either way, and `login(..., remember=True)` wins. `session.clear()`
signs out. With Flask-Login, its `_user_id` binds the session to that user (a new token, as a sign-in gets) and its
`logout_user()` ends the session, so listing and revoking a user's sessions works however they signed in.

A failed 5xx response saves nothing; a store that cannot confirm the session answers 503, an address over the
unknown-token threshold 429 (`token_abuse_throttle`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from flask import Flask, Request, Response, abort, current_app, redirect, request, session, url_for
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from sessionhub.client import ClientInfo
from sessionhub.cookies import CookiePolicy
from sessionhub.errors import BackendUnavailable, SessionNotFound, TokenThrottled
from sessionhub.model import Session, SessionData
from sessionhub.settings import Settings
from sessionhub.sync import SyncSessionManager
from sessionhub.tokens import session_id_for

P = ParamSpec("P")
T = TypeVar("T")

EXTENSION = "sessionhub"
FLASK_LOGIN_USER_KEY = "_user_id"
"""Where Flask-Login keeps the signed-in user's id in the session."""


class FlaskSession(SessionMixin):
    """Flask's `session` for one request: the sessionhub session's data as a dict, and the session itself."""

    new = False

    def __init__(self, hub: Session | None, sent_token: str | None, data: SessionData) -> None:
        self.hub = hub
        """The stored session; None while the visitor has none."""
        self.sent_token = sent_token
        self.data = data
        self.bound_user = hub.data.get(FLASK_LOGIN_USER_KEY) if hub is not None else None
        """Flask-Login's user id as the request found it."""
        self.refused: HTTPException | None = None
        """Set when the session could not be loaded: the request is answered with it before the view runs."""
        self.legacy_to_clear: list[str] = []
        """Legacy cookies (`legacy_cookie_names`) the request carried: adopted or dead, the response clears them."""
        self.modified = False

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def __delitem__(self, key: str) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def clear(self) -> None:
        self.data.clear()

    def become(self, hub: Session | None, data: SessionData) -> None:
        self.hub, self.data = hub, data


class SessionHubInterface(SessionInterface):
    """Flask's session interface over a SyncSessionManager."""

    def __init__(self, sessions: SyncSessionManager, cookie: CookiePolicy) -> None:
        self.sessions = sessions
        self.cookie = cookie

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        token = request.cookies.get(self.cookie.name)
        codec = self.sessions.manager.codec
        try:
            hub = self.sessions.get(token, client=client_of(request))
        except TokenThrottled as exc:
            refused = FlaskSession(None, token, SessionData(codec=codec))
            refused.refused = _refusal(429, exc.retry_after, "Too many unknown session cookies from this address.")
            return refused
        except BackendUnavailable:
            refused = FlaskSession(None, token, SessionData(codec=codec))
            refused.refused = _refusal(503, 1, "The session store is unavailable; retry shortly.")
            return refused
        legacy_to_clear: list[str] = []
        if hub is None and self.sessions.manager.settings.legacy_cookie_names:
            # Migrated sessions live in the primary store: while it is down the legacy cookie stays for later.
            with contextlib.suppress(BackendUnavailable):
                hub, legacy_to_clear = self.sessions.adopt_legacy_cookies(request.cookies)
        session = FlaskSession(hub, token, hub.data if hub is not None else SessionData(codec=codec))
        session.legacy_to_clear = legacy_to_clear
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, FlaskSession), "the session was not opened by SessionHubInterface"
        response.vary.add("Cookie")
        if session.refused is not None or response.status_code >= 500:
            return
        self._follow_flask_login(session)
        if session.data.cleared and session.hub is not None:
            self.sessions.delete(session.hub.token)  # session.clear() signs out, as Flask's cookie sessions do
            session.become(None, SessionData.fresh(session.data, session.data.codec))
        if session.hub is not None:
            try:
                self.sessions.save(session.hub)
            except SessionNotFound:
                session.become(None, SessionData(codec=session.data.codec))  # ended meanwhile: never brought back
        elif session.data:
            session.become(self.sessions.create(data=session.data, client=client_of(request)), session.data)
        self._set_cookie(session, response)

    def _follow_flask_login(self, session: FlaskSession) -> None:
        """Bind the session to Flask-Login's user as a sign-in would (a new token), and end it on its logout."""
        user = session.data.get(FLASK_LOGIN_USER_KEY)
        hub = session.hub
        if user is not None and (hub is None or hub.user_id != str(user)):
            token = hub.token if hub is not None else None
            signed_in = self.sessions.login(token, str(user), data=session.data, client=client_of(request))
            session.become(signed_in, signed_in.data)
        elif user is None and session.bound_user is not None and hub is not None:
            self.sessions.delete(hub.token)
            session.become(None, SessionData.fresh(session.data, session.data.codec))

    def _set_cookie(self, session: FlaskSession, response: Response) -> None:
        hub = session.hub
        headers = []
        setting = hub is not None and hub.token is not None and hub.token != session.sent_token
        if hub is not None and setting:
            headers.append(self.cookie.session_cookie(hub, persistent=session.permanent))
        elif hub is None and session_id_for(session.sent_token) is not None:
            headers.append(self.cookie.clear_cookie())
        # A legacy cookie under the session cookie's own name is replaced by the new cookie, not also cleared.
        headers += [
            self.cookie.clear_cookie(name)
            for name in session.legacy_to_clear
            if not (setting and name == self.cookie.name)
        ]
        for header in headers:
            response.headers.add("Set-Cookie", header)
        if headers:
            response.headers["Cache-Control"] = "no-store"


def _refusal(status: int, retry_after: float, message: str) -> HTTPException:
    response = Response(message + "\n", status=status, mimetype="text/plain")
    response.headers["Retry-After"] = str(max(1, round(retry_after)))
    response.headers["Cache-Control"] = "no-store"
    return HTTPException(response=response)


def client_of(request: Request) -> ClientInfo:
    """The client as recorded on sessions: the address Flask gives (behind a proxy, use werkzeug's ProxyFix)."""
    return ClientInfo.of(request.remote_addr, request.headers.get("User-Agent"))


class SessionHub:
    """The Flask extension: `SessionHub(app)`, or `SessionHub()` then `init_app(app)`. `sessions` is the
    SyncSessionManager to use (default: one built from the app's config)."""

    def __init__(self, app: Flask | None = None, *, sessions: SyncSessionManager | None = None) -> None:
        self.sessions = sessions
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        settings = (
            self.sessions.settings
            if self.sessions is not None
            else Settings.from_config(app.config, prefix="SESSIONHUB_")
        )
        sessions = self.sessions or SyncSessionManager.from_settings(settings)
        app.extensions[EXTENSION] = sessions
        app.session_interface = SessionHubInterface(sessions, CookiePolicy.from_settings(settings))
        app.before_request(_answer_refusals)


def _answer_refusals() -> None:
    refused = _session().refused
    if refused is not None:
        raise refused


def _session() -> FlaskSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, FlaskSession):
        raise RuntimeError("sessionhub.flask needs SessionHub(app) (or init_app) on this application")
    return current


def sessions_of(app: Flask | None = None) -> SyncSessionManager:
    """The SyncSessionManager of the app (the current one by default): list and revoke sessions from Flask code."""
    found: SyncSessionManager = (app or current_app).extensions[EXTENSION]
    return found


def current_session() -> Session | None:
    """The stored session of this request (public id, user, timestamps), or None while the visitor has none."""
    return _session().hub


def login(user_id: str, *, remember: bool | None = None) -> Session:
    """Sign the user in: a new session and token (the old token stops working), the data kept, including what this
    request wrote. `remember` as for `SessionManager.login`."""
    current = _session()
    token = current.hub.token if current.hub is not None else None
    signed_in = sessions_of().login(token, user_id, data=current.data, client=client_of(request), remember=remember)
    current.become(signed_in, signed_in.data)
    return signed_in


def logout() -> None:
    """End the session in the store; the response clears the cookie."""
    current = _session()
    if current.hub is not None:
        sessions_of().delete(current.hub.token, client=client_of(request))
    current.become(None, SessionData(codec=current.data.codec))


def rotate() -> Session | None:
    """Move the session to a new token, its data kept (say, after a privilege change); None without a session."""
    current = _session()
    if current.hub is None:
        return None
    rotated = sessions_of().rotate(current.hub.token, client=client_of(request))
    rotated.data = current.data  # the data this request holds, changes included
    current.become(rotated, current.data)
    return rotated


def login_required(view: Callable[P, T]) -> Callable[P, T | BaseResponse]:
    """Refuse the view to a visitor who is not signed in: a redirect to `SESSIONHUB_LOGIN_VIEW` (an endpoint name)
    when the app sets one, else 401."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T | BaseResponse:
        hub = _session().hub
        if hub is None or hub.user_id is None:
            login_view = current_app.config.get("SESSIONHUB_LOGIN_VIEW")
            if login_view:
                return redirect(url_for(login_view, next=request.full_path))
            abort(401)
        return view(*args, **kwargs)

    return guarded
