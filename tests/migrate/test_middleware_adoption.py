"""End to end: a legacy store seeded (by starsessions itself, or in the seeds' layout), migrated, then the browser's
old cookie sent through sessionhub's middleware: signed in, a sessionhub cookie set, the legacy cookie cleared."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import redis
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sessionhub import SessionManager, Settings
from sessionhub.asgi import SessionMiddleware, get_session
from sessionhub.backends.redis import RedisBackend
from sessionhub.migrate import Migrator, SeedsSource, StarsessionsSource
from tests.migrate.conftest import seed_session
from tests.migrate.test_library_sources import flask_app, sign_in_with_starsessions, starsessions_app
from tests.migrate.test_library_sources import flask_legacy as flask_legacy  # the fixture
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager
from tests.support.redis_servers import RedisServer
from tests.test_cli import cli as cli  # the fixture, for the CLI tests here


def sessionhub_app(manager: SessionManager) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        session = get_session(request)
        return JSONResponse({"user": session.user_id if session else None, "data": dict(request.session)})

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        session = websocket.scope.get("session")
        await websocket.send_json({"data": dict(session) if session is not None else None})
        await websocket.close()

    app = Starlette(routes=[Route("/whoami", whoami), WebSocketRoute("/ws", socket)])
    app.add_middleware(SessionMiddleware, manager=manager)
    return app


def browser(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app.test")


def cookie_header(**cookies: str) -> dict[str, str]:
    return {"cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


def new_value(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


async def websocket_session(app: Starlette, cookie: str) -> object:
    """What a websocket handler sees of the session, driving the app as an ASGI server would."""
    incoming: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    sent: list[dict[str, object]] = []
    await incoming.put({"type": "websocket.connect"})

    async def receive() -> dict[str, object]:
        return await incoming.get()

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            await incoming.put({"type": "websocket.disconnect", "code": 1000})

    scope = {
        "type": "websocket", "path": "/ws", "raw_path": b"/ws", "root_path": "", "scheme": "ws", "query_string": b"",
        "headers": [(b"host", b"app.test"), (b"cookie", cookie.encode())], "client": ("127.0.0.1", 5000),
        "server": ("app.test", 80), "subprotocols": [], "asgi": {"version": "3.0"},
    }  # fmt: skip
    await app(scope, receive, send)  # type: ignore[arg-type]
    [reply] = [message for message in sent if message["type"] == "websocket.send"]
    return json.loads(str(reply["text"]))


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {value.split("=", 1)[0]: value for value in response.headers.get_list("set-cookie")}


@dataclass
class SessionhubApp:
    """sessionhub's middleware on the Redis the CLI migrates into, adopting the legacy cookie `legacy_cookie`."""

    redis_url: str
    key_prefix: str
    legacy_cookie: str

    def whoami(self, cookie: str) -> dict[str, Any]:
        """What the app sees on a request with this legacy cookie (asyncio.run: the CLI tests are sync)."""

        async def request() -> dict[str, Any]:
            settings = Settings(key_prefix=self.key_prefix, legacy_cookie_names=[self.legacy_cookie])
            backend = RedisBackend.from_url(self.redis_url, key_prefix=self.key_prefix)
            async with SessionManager(backend, settings) as manager, browser(sessionhub_app(manager)) as client:
                response = await client.get("/whoami", headers=cookie_header(**{self.legacy_cookie: cookie}))
            found: dict[str, Any] = response.json()
            return found

        return asyncio.run(request())


async def test_starsessions_users_stay_signed_in_through_the_middleware(
    legacy: Redis, make_manager: MakeManager, clock: FakeClock
) -> None:
    legacy_cookie = await sign_in_with_starsessions(starsessions_app(legacy, lifetime=1800), "ana")
    manager = await make_manager(legacy_cookie_names="session")
    await Migrator(StarsessionsSource(user_key="user_id"), legacy, manager, clock=clock).run()
    app = sessionhub_app(manager)

    async with browser(app) as client:
        first = await client.get("/whoami", headers=cookie_header(session=legacy_cookie))
        cookies = set_cookies(first)
        assert first.json() == {"user": "ana", "data": {"user_id": "ana", "cart": ["lamp", "oil"]}}
        assert cookies["session_token"].startswith("session_token=")
        assert "HttpOnly" in cookies["session_token"]
        assert cookies["session"].startswith("session=; Path=/; Max-Age=0")
        assert first.headers["cache-control"] == "no-store"

        second = await client.get("/whoami", headers=cookie_header(session_token=new_value(cookies["session_token"])))
        assert second.json()["user"] == "ana"
        assert "set-cookie" not in second.headers

        replay = await client.get("/whoami", headers=cookie_header(session=legacy_cookie))
    assert replay.json() == {"user": None, "data": {}}, "a legacy cookie works once"
    assert set_cookies(replay)["session"].startswith("session=; Path=/; Max-Age=0")


async def test_a_legacy_cookie_with_the_session_cookies_own_name(
    legacy: Redis, make_manager: MakeManager, clock: FakeClock
) -> None:
    """The seeds kept SESSION_COOKIE_NAME, so the legacy cookie may have sessionhub's very name."""
    legacy_cookie = await seed_session(legacy, clock, user_id="bea", data={"lang": "el"})
    manager = await make_manager(legacy_cookie_names="session_token")
    await Migrator(SeedsSource(), legacy, manager, clock=clock).run()
    app = sessionhub_app(manager)

    async with browser(app) as client:
        first = await client.get("/whoami", headers=cookie_header(session_token=legacy_cookie))
        [only] = first.headers.get_list("set-cookie")
        assert first.json() == {"user": "bea", "data": {"lang": "el"}}
        assert "Max-Age=0" not in only, "the new cookie replaces the legacy one; it is not also cleared"
        second = await client.get("/whoami", headers=cookie_header(session_token=new_value(only)))
        assert second.json()["user"] == "bea"

        unknown = await client.get("/whoami", headers=cookie_header(session_token="never-migrated-legacy-value"))
    assert unknown.json()["user"] is None
    assert set_cookies(unknown)["session_token"].startswith("session_token=; Path=/; Max-Age=0")


async def test_legacy_cookies_are_ignored_unless_configured_and_on_websockets(
    legacy: Redis, make_manager: MakeManager, clock: FakeClock
) -> None:
    legacy_cookie = await seed_session(legacy, clock, user_id="cai")
    unconfigured = await make_manager()
    configured = await make_manager(legacy_cookie_names="sid")
    await Migrator(SeedsSource(), legacy, configured, clock=clock).run()

    async with browser(sessionhub_app(unconfigured)) as client:
        response = await client.get("/whoami", headers=cookie_header(sid=legacy_cookie))
    assert response.json()["user"] is None
    assert "set-cookie" not in response.headers

    assert await websocket_session(sessionhub_app(configured), f"sid={legacy_cookie}") == {"data": {}}
    adopted = await configured.adopt_legacy(legacy_cookie)
    assert adopted is not None, "a websocket cannot deliver a new cookie, so it must not use up the legacy one"
    assert adopted.user_id == "cai"


@pytest.mark.parametrize("sessionhub_cookie", ["valid", "expired"])
async def test_a_live_sessionhub_session_wins_over_a_legacy_cookie(
    legacy: Redis, make_manager: MakeManager, clock: FakeClock, sessionhub_cookie: str
) -> None:
    legacy_cookie = await seed_session(legacy, clock, user_id="dia")
    manager = await make_manager(legacy_cookie_names="sid", session_ttl=600, absolute_ttl=3600)
    await Migrator(SeedsSource(), legacy, manager, clock=clock).run()
    own = await manager.create(user_id="eli")
    assert own.token is not None
    if sessionhub_cookie == "expired":
        await manager.delete(own.token)

    async with browser(sessionhub_app(manager)) as client:
        response = await client.get("/whoami", headers=cookie_header(session_token=own.token, sid=legacy_cookie))

    expected = "eli" if sessionhub_cookie == "valid" else "dia"
    assert response.json()["user"] == expected
    legacy_left = await manager.adopt_legacy(legacy_cookie)
    assert (legacy_left is not None) == (sessionhub_cookie == "valid")


# -- with the CLI, then the browser's old cookie through sessionhub's middleware -----------------------------------


@pytest.mark.filterwarnings("ignore:The 'use_signer' option is deprecated:DeprecationWarning")  # the legacy setup
@pytest.mark.parametrize("signed", [False, True], ids=["plain", "signed"])
def test_a_flask_session_store_migrated_with_the_cli_keeps_its_browsers_signed_in(
    signed: bool, flask_legacy: redis.Redis, legacy_server: RedisServer, cli: Any, redis_server: RedisServer,
    key_prefix: str,
) -> None:  # fmt: skip
    secret = secrets.token_urlsafe(24) if signed else None
    app = flask_app(flask_legacy, "msgpack", secret_key=secret)
    with app.test_client() as legacy_browser:
        assert legacy_browser.post("/sign-in/gus").status_code == 200
        cookie = legacy_browser.get_cookie("session")
    assert cookie is not None
    signer = ["--secret-key-env", "FLASK_KEY"] if signed else []

    migrated = cli("migrate", "flask-session", "--source-url", legacy_server.url, "--user-key", "uid", *signer,
                   "--json", env={"FLASK_KEY": secret or ""})  # fmt: skip

    assert migrated.exit_code == 0, migrated.output
    assert orjson.loads(migrated.stdout)["migration"]["migrated"] == 1
    sessionhub = SessionhubApp(redis_server.url, key_prefix, "session")
    prefs = {"lang": "el", "tz": "Europe/Athens"}
    assert sessionhub.whoami(cookie.value) == {"user": "gus", "data": {"uid": "gus", "prefs": prefs}}
    assert sessionhub.whoami(cookie.value)["user"] is None, "once"


@pytest.mark.usefixtures("legacy")  # empty at the start
def test_a_starsessions_store_migrated_with_the_cli_keeps_its_browsers_signed_in(
    legacy_server: RedisServer, cli: Any, redis_server: RedisServer, key_prefix: str
) -> None:
    async def sign_in() -> str:
        async with Redis.from_url(legacy_server.url) as client:
            return await sign_in_with_starsessions(starsessions_app(client, lifetime=1800), "hal")

    cookie = asyncio.run(sign_in())

    migrated = cli("migrate", "starsessions", "--source-url", legacy_server.url, "--user-key", "user_id", "--json")

    assert migrated.exit_code == 0, migrated.output
    assert orjson.loads(migrated.stdout)["migration"]["migrated"] == 1
    seen = SessionhubApp(redis_server.url, key_prefix, "session").whoami(cookie)
    assert seen == {"user": "hal", "data": {"user_id": "hal", "cart": ["lamp", "oil"]}}
