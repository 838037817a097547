"""sessionhub.flask: Flask's `session` as a sessionhub session, through Flask's test client and a real waitress
server, on memory, Redis (alone and resilient) and Cluster; Flask-Login bound to the session's user."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from sessionhub import Settings
from tests.support.managers import MakeSync
from tests.wsgi.flask_app import build_flask_app
from tests.wsgi.servers import waitress_server

COOKIE = "session_token"


@pytest.fixture
def app(make_sync: MakeSync) -> Flask:
    return build_flask_app(make_sync(session_ttl=600, absolute_ttl=3600, max_sessions_per_user=3))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def served(app: Flask) -> Iterator[httpx.Client]:
    with waitress_server(app) as url, httpx.Client(base_url=url) as browser:
        yield browser


def set_cookies(headers: list[str]) -> list[str]:
    return [value for value in headers if value.startswith(f"{COOKIE}=")]


def test_a_visitor_who_writes_nothing_gets_no_session(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.json == {"data": {}, "user": None, "id": None}
    assert "Set-Cookie" not in response.headers
    assert response.headers["Vary"] == "Cookie"


def test_a_first_write_stores_the_session_and_sets_the_cookie(client: FlaskClient, app: Flask) -> None:
    response = client.get("/write?theme=dark")
    [cookie] = set_cookies(response.headers.getlist("Set-Cookie"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age" not in cookie  # Flask's default session is not permanent: a browser-session cookie
    assert response.headers["Cache-Control"] == "no-store"
    token = cookie.split(";")[0].split("=", 1)[1]
    stored = app.extensions["sessionhub"].get(token)
    assert stored.data == {"theme": "dark"}
    again = client.get("/")
    assert again.json is not None
    assert again.json["data"] == {"theme": "dark"}
    assert "Set-Cookie" not in again.headers


def test_a_nested_change_is_saved_without_marking_it_modified(client: FlaskClient) -> None:
    client.get("/append?item=ink")
    client.get("/append?item=paper")
    assert client.get("/").json["data"] == {"cart": ["ink", "paper"]}  # type: ignore[index]


def test_a_permanent_session_gets_a_cookie_that_outlives_the_browser(client: FlaskClient) -> None:
    [cookie] = set_cookies(client.get("/permanent").headers.getlist("Set-Cookie"))
    assert "Max-Age=3600" in cookie


def test_login_rotates_keeps_the_data_and_binds_the_user(client: FlaskClient, app: Flask) -> None:
    client.get("/write?cart=1")
    first = client.get_cookie(COOKIE)
    assert first is not None
    signed_in = client.get("/login/amira?theme=dark")
    assert signed_in.json is not None
    assert signed_in.json["user"] == "amira"
    assert signed_in.json["data"] == {"cart": "1", "theme": "dark"}
    second = client.get_cookie(COOKIE)
    assert second is not None
    assert second.value != first.value
    sessions = app.extensions["sessionhub"]
    assert sessions.get(first.value) is None
    assert [session.user_id for session in sessions.list_user_sessions("amira")] == ["amira"]


def test_remember_me_gives_the_sign_in_its_longer_cookie(client: FlaskClient) -> None:
    [cookie] = set_cookies(client.get("/login/amira?remember=1").headers.getlist("Set-Cookie"))
    assert "Max-Age=2592000" in cookie


def test_logout_and_clear_end_the_session_in_the_store(client: FlaskClient, app: Flask) -> None:
    sessions = app.extensions["sessionhub"]
    client.get("/login/amira")
    token = client.get_cookie(COOKIE)
    assert token is not None
    signed_out = client.get("/logout")
    assert "Max-Age=0" in set_cookies(signed_out.headers.getlist("Set-Cookie"))[0]
    assert sessions.get(token.value) is None

    client.get("/login/bea")
    bea = client.get_cookie(COOKIE)
    assert bea is not None
    client.get("/clear?after=1")  # clear() signs out when the response leaves; keys written after it start anew
    assert sessions.get(bea.value) is None
    assert client.get("/").json == {"data": {"after": "1"}, "user": None, "id": client.get("/").json["id"]}  # type: ignore[index]


def test_rotate_gives_a_new_token_with_the_same_session_data(client: FlaskClient) -> None:
    client.get("/login/amira?n=1")
    before = client.get_cookie(COOKIE)
    rotated = client.get("/rotate")
    after = client.get_cookie(COOKIE)
    assert before is not None
    assert after is not None
    assert after.value != before.value
    assert rotated.json is not None
    assert rotated.json["data"] == {"n": "1"}


def test_login_required_answers_401_or_redirects(app: Flask, client: FlaskClient) -> None:
    assert client.get("/private").status_code == 401
    client.get("/login/amira")
    assert client.get("/private").status_code == 200
    app.config["SESSIONHUB_LOGIN_VIEW"] = "read"
    redirected = app.test_client().get("/private")
    assert redirected.status_code == 302
    assert redirected.headers["Location"].startswith("/?next=")


def test_a_failed_request_saves_nothing_and_unstorable_data_is_a_500(client: FlaskClient) -> None:
    client.get("/write?a=1")
    assert client.get("/crash").status_code == 500
    assert client.get("/unstorable").status_code == 500
    assert client.get("/").json["data"] == {"a": "1"}  # type: ignore[index]


def test_a_malformed_or_unknown_cookie_is_no_session_never_a_500(client: FlaskClient) -> None:
    client.set_cookie(COOKIE, "not-a-token")
    response = client.get("/")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers  # perhaps another application's cookie: left alone
    client.set_cookie(COOKIE, "0a" + "A" * 43)
    assert "Max-Age=0" in set_cookies(client.get("/").headers.getlist("Set-Cookie"))[0]


def test_flask_login_binds_the_user_and_its_logout_ends_the_session(client: FlaskClient, app: Flask) -> None:
    sessions = app.extensions["sessionhub"]
    client.get("/write?theme=dark")
    anonymous = client.get_cookie(COOKIE)
    client.get("/fl/login/amira")  # bound when the response leaves
    assert client.get("/").json["user"] == "amira"  # type: ignore[index]
    bound = client.get_cookie(COOKIE)
    assert anonymous is not None
    assert bound is not None
    assert bound.value != anonymous.value  # bound as a sign-in: a new token
    assert [session.user_id for session in sessions.list_user_sessions("amira")] == ["amira"]

    client.get("/fl/logout")
    assert sessions.get(bound.value) is None
    assert sessions.list_user_sessions("amira") == []
    assert client.get("/").json["data"]["theme"] == "dark"  # type: ignore[index]


def test_revoking_a_users_sessions_signs_the_browser_out(client: FlaskClient, app: Flask) -> None:
    client.get("/login/amira")
    assert app.extensions["sessionhub"].revoke_user_sessions("amira") == 1
    assert client.get("/").json["user"] is None  # type: ignore[index]


def test_under_waitress_with_threads(served: httpx.Client) -> None:
    served.get("/login/amira?theme=dark")
    assert served.get("/").json()["user"] == "amira"
    served.get("/append?item=ink")
    assert served.get("/").json()["data"] == {"theme": "dark", "cart": ["ink"]}


def test_settings_come_from_the_app_config_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONHUB_SESSION_TTL", "120")
    config = {"SESSIONHUB_KEY_PREFIX": "admin", "SESSIONHUB_MAX_SESSIONS_PER_USER": 2}
    settings = Settings.from_config(config, prefix="SESSIONHUB_")
    assert (settings.key_prefix, settings.max_sessions_per_user, settings.session_ttl) == ("admin", 2, 120)
    assert Settings().key_prefix == "sessionhub"
