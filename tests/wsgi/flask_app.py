"""The Flask application the Flask tests drive: one small view per behaviour, and Flask-Login on /fl/*."""

from __future__ import annotations

from flask import Flask, jsonify, request, session
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, login_user, logout_user

from sessionhub.flask import SessionHub, current_session, login, login_required, logout, rotate, sessions_of
from sessionhub.sync import SyncSessionManager


class User:
    """What Flask-Login needs of a user."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: str) -> None:
        self.id = user_id

    def get_id(self) -> str:
        return self.id


def describe() -> ResponseReturnValue:
    hub = current_session()
    return jsonify(data=dict(session), user=hub.user_id if hub else None, id=hub.id if hub else None)


def build_flask_app(sessions: SyncSessionManager, **config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="only-for-flask-login", **config)
    SessionHub(app, sessions=sessions)
    logins = LoginManager(app)
    logins.user_loader(User)

    @app.get("/")
    def read() -> ResponseReturnValue:
        return describe()

    @app.get("/write")
    def write() -> ResponseReturnValue:
        session.update(request.args)
        return describe()

    @app.get("/append")
    def append() -> ResponseReturnValue:
        session.setdefault("cart", []).append(request.args["item"])  # a nested change, no `modified = True`
        return describe()

    @app.get("/permanent")
    def permanent() -> ResponseReturnValue:
        session.permanent = True
        session["kept"] = True
        return describe()

    @app.get("/login/<user>")
    def sign_in(user: str) -> ResponseReturnValue:
        session.update(request.args)
        login(user, remember=request.args.get("remember") == "1" or None)
        return describe()

    @app.get("/logout")
    def sign_out() -> ResponseReturnValue:
        logout()
        return describe()

    @app.get("/clear")
    def clear() -> ResponseReturnValue:
        session.clear()
        session.update(request.args)
        return describe()

    @app.get("/rotate")
    def rotate_token() -> ResponseReturnValue:
        rotate()
        return describe()

    @app.get("/private")
    @login_required
    def private() -> ResponseReturnValue:
        return describe()

    @app.get("/crash")
    def crash() -> ResponseReturnValue:
        session["lost"] = True
        raise RuntimeError("the view failed")

    @app.get("/unstorable")
    def unstorable() -> ResponseReturnValue:
        session["when"] = {1, 2}
        return describe()

    @app.get("/fl/login/<user>")
    def flask_login_in(user: str) -> ResponseReturnValue:
        login_user(User(user))
        return describe()

    @app.get("/fl/logout")
    def flask_login_out() -> ResponseReturnValue:
        logout_user()
        return describe()

    @app.get("/sessions-of/<user>")
    def sessions_of_user(user: str) -> ResponseReturnValue:
        return jsonify([found.id for found in sessions_of().list_user_sessions(user)])

    return app
