"""Stores written by starsessions and Flask-Session themselves (through their own apps), then migrated, then reached
with the very cookie those apps gave the browser."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import orjson
import pytest
import redis
from flask import Flask
from flask import session as flask_session
from flask_session import Session as FlaskSessionExtension
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starsessions import SessionAutoloadMiddleware, SessionMiddleware
from starsessions.stores.redis import RedisStore

from sessionhub import SessionManager
from sessionhub.migrate import FieldMap, FlaskSessionSource, JsonPrefixSource, Migrator, StarsessionsSource
from sessionhub.stack import build_legacy_fallback
from tests.support.clock import FakeClock
from tests.support.managers import MakeSync
from tests.support.redis_servers import RedisServer
from tests.wsgi.flask_app import build_flask_app


def starsessions_app(legacy: Redis, *, lifetime: int) -> Starlette:
    async def sign_in(request: Request) -> JSONResponse:
        request.session["user_id"] = request.path_params["user"]
        request.session["cart"] = ["lamp", "oil"]
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/sign-in/{user}", sign_in, methods=["POST"])])
    app.add_middleware(SessionAutoloadMiddleware)
    app.add_middleware(SessionMiddleware, store=RedisStore(connection=legacy), lifetime=lifetime)
    return app


async def sign_in_with_starsessions(app: Starlette, user: str) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://legacy.test") as client:
        response = await client.post(f"/sign-in/{user}")
    assert response.status_code == 200
    return response.cookies["session"]


async def test_starsessions_store_migrates_and_its_cookies_keep_working(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    app = starsessions_app(legacy, lifetime=1800)
    cookies = {user: await sign_in_with_starsessions(app, user) for user in ("ana", "ben", "cai")}
    source = StarsessionsSource(user_key="user_id")

    report = await Migrator(source, legacy, manager, clock=clock).run()

    assert (report.migrated, report.invalid, report.kinds) == (3, [], {"user": 3})
    [ana] = await manager.list_user_sessions("ana")
    assert ana.data == {"user_id": "ana", "cart": ["lamp", "oil"]}, "starsessions' __metadata__ is not data"
    assert (ana.expires_at.timestamp() - clock()) == pytest.approx(1800, abs=2)
    for user, cookie in cookies.items():
        adopted = await manager.adopt_legacy(cookie)
        assert adopted is not None
        assert adopted.user_id == user
    verified = await Migrator(source, legacy, manager, clock=clock).verify()
    assert verified.ok
    assert verified.adopted == 3


@pytest.fixture
def flask_legacy(legacy_server: RedisServer, legacy: Redis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(legacy_server.url)
    yield client
    client.close()


def flask_app(client: redis.Redis, serialization: str, secret_key: str | None = None) -> Flask:
    app = Flask("legacy")
    app.config.update(
        SESSION_TYPE="redis",
        SESSION_REDIS=client,
        SESSION_SERIALIZATION_FORMAT=serialization,
        PERMANENT_SESSION_LIFETIME=2400,
    )
    if secret_key is not None:
        app.config.update(SECRET_KEY=secret_key, SESSION_USE_SIGNER=True)
    FlaskSessionExtension(app)

    @app.post("/sign-in/<user>")
    def sign_in(user: str) -> dict[str, bool]:
        flask_session["uid"] = user
        flask_session["prefs"] = {"lang": "el", "tz": "Europe/Athens"}
        return {"ok": True}

    return app


@pytest.mark.parametrize("serialization", ["msgpack", "json"])
async def test_flask_session_store_migrates_and_its_cookies_keep_working(
    flask_legacy: redis.Redis, legacy: Redis, manager: SessionManager, clock: FakeClock, serialization: str
) -> None:
    app = flask_app(flask_legacy, serialization)
    cookies: dict[str, str] = {}
    for user in ("dia", "eli"):
        with app.test_client() as browser:
            assert browser.post(f"/sign-in/{user}").status_code == 200
            cookie = browser.get_cookie("session")
            assert cookie is not None
            cookies[user] = cookie.value
    # A value pickled by Flask-Session before 0.7 is reported, never unpickled.
    await legacy.set("session:" + secrets.token_urlsafe(32), b"\x80\x04\x95\x10\x00\x00\x00", ex=600)

    source = FlaskSessionSource(user_key="uid")
    report = await Migrator(source, legacy, manager, clock=clock).run()

    assert report.migrated == 2
    assert [entry.reason for entry in report.invalid] == [
        "value is pickled (Flask-Session before 0.7); sessionhub does not unpickle"
    ]
    [dia] = await manager.list_user_sessions("dia")
    assert dia.data == {"uid": "dia", "prefs": {"lang": "el", "tz": "Europe/Athens"}}, "_permanent is Flask's flag"
    assert (dia.expires_at.timestamp() - clock()) == pytest.approx(2400, abs=2)
    for user, value in cookies.items():
        adopted = await manager.adopt_legacy(value)
        assert adopted is not None
        assert adopted.user_id == user


@pytest.mark.filterwarnings("ignore:The 'use_signer' option is deprecated:DeprecationWarning")  # the legacy setup
async def test_signed_flask_session_cookies_keep_working_and_the_signature_is_checked(
    flask_legacy: redis.Redis, legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    """SESSION_USE_SIGNER: the browser holds `<sid>.<signature>`; each session is migrated under that value, so the
    cookie the legacy app signed works, and neither the bare sid nor a forged signature does."""
    secret = secrets.token_urlsafe(24)
    app = flask_app(flask_legacy, "msgpack", secret_key=secret)
    with app.test_client() as browser:
        assert browser.post("/sign-in/fay").status_code == 200
        cookie = browser.get_cookie("session")
    assert cookie is not None
    sid, dot, signature = cookie.value.partition(".")
    assert dot
    assert signature

    report = await Migrator(FlaskSessionSource(user_key="uid", secret_key=secret), legacy, manager, clock=clock).run()

    assert (report.migrated, report.invalid) == (1, [])
    assert await manager.adopt_legacy(sid) is None
    assert await manager.adopt_legacy(f"{sid}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}") is None
    adopted = await manager.adopt_legacy(cookie.value)
    assert adopted is not None
    assert adopted.user_id == "fay"
    assert adopted.data == {"uid": "fay", "prefs": {"lang": "el", "tz": "Europe/Athens"}}


async def test_generic_json_source_with_a_field_mapping(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    token = secrets.token_hex(20)
    document = {"uid": 7, "born": clock() - 100, "seen": (clock() - 5) * 1000, "addr": "203.0.113.1", "theme": "sepia"}
    await legacy.set(f"app:sess:{token}", orjson.dumps(document), ex=900)
    fields = FieldMap.parse(["user_id=uid", "created_at=born", "last_active_at=seen", "ip=addr", "data="])
    source = JsonPrefixSource("app:sess:", fields=fields, kind="web")

    report = await Migrator(source, legacy, manager, clock=clock).run()

    assert report.kinds == {"web": 1}
    adopted = await manager.adopt_legacy(token)
    assert adopted is not None
    assert (adopted.user_id, adopted.kind, adopted.client.ip) == ("7", "web", "203.0.113.1")
    assert adopted.data == {"theme": "sepia"}
    assert adopted.created_at.timestamp() == pytest.approx(clock() - 100)


@pytest.mark.parametrize("reached_by", ["migration", "read-through"])
def test_a_flask_session_app_moved_onto_sessionhub_flask_keeps_its_users_signed_in(
    flask_legacy: redis.Redis, legacy_server: RedisServer, make_sync: MakeSync, reached_by: str
) -> None:
    """The same Flask app, Flask-Session swapped for sessionhub.flask: the browser's Flask-Session cookie signs it in
    on its first request (migrated beforehand, or read through from the old store), then a sessionhub cookie."""
    with flask_app(flask_legacy, "msgpack").test_client() as legacy_browser:
        assert legacy_browser.post("/sign-in/fay").status_code == 200
        legacy_cookie = legacy_browser.get_cookie("session")
        assert legacy_cookie is not None
    stores = [f"flask-session+{legacy_server.url}?user_key=uid"] if reached_by == "read-through" else []
    sessions = make_sync(legacy_cookie_names="session", legacy_stores=stores)
    if reached_by == "migration":

        async def migrate() -> None:
            async with Redis.from_url(legacy_server.url) as legacy:
                await Migrator(FlaskSessionSource(user_key="uid"), legacy, sessions.manager).run()

        sessions.call(migrate())
    else:
        sessions.manager.legacy_fallback = build_legacy_fallback(sessions.manager.settings)
    app = build_flask_app(sessions)

    with app.test_client() as browser:
        browser.set_cookie("session", legacy_cookie.value)
        first = browser.get("/")
        replay = app.test_client()
        replay.set_cookie("session", legacy_cookie.value)
        second_browser = replay.get("/")

    signed_in, again = first.get_json(), second_browser.get_json()
    assert signed_in["user"] == "fay"
    assert signed_in["data"] == {"uid": "fay", "prefs": {"lang": "el", "tz": "Europe/Athens"}}
    set_cookies = first.headers.getlist("Set-Cookie")
    assert any(header.startswith("session_token=") for header in set_cookies)
    assert any(header.startswith("session=; Path=/; Max-Age=0") for header in set_cookies), "the legacy cookie goes"
    assert first.headers["Cache-Control"] == "no-store"
    assert again["user"] is None, "a legacy cookie works once"
