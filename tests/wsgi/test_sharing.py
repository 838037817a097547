"""One user's session shared by a FastAPI app (uvicorn), a Flask app and a Django app (waitress, threads), each on
its own loopback port with the same settings: sign in on one, read and change the data on the others, sign out on
one and the cookie is dead on all. One browser (one cookie jar for the host) moves between them."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from starlette.middleware import Middleware

from sessionhub import SessionManager, Settings
from sessionhub.asgi import SessionMiddleware, get_session, logout
from sessionhub.django import use_sessions
from sessionhub.sync import SyncSessionManager
from tests.support.deployments import cluster_url
from tests.support.redis_servers import HOST, RedisCluster, RedisServer, free_port
from tests.wsgi.django_app import wsgi_app
from tests.wsgi.flask_app import build_flask_app
from tests.wsgi.servers import START_TIMEOUT, waitress_server

pytestmark = pytest.mark.slow


def fastapi_app(settings: Settings) -> FastAPI:
    manager = SessionManager.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with manager:
            yield

    app = FastAPI(lifespan=lifespan, middleware=[Middleware(SessionMiddleware, manager=manager)])

    @app.get("/")
    async def read(request: Request) -> dict[str, object]:
        session = get_session(request)
        return {"data": dict(request.session), "user": session.user_id if session else None}

    @app.get("/write")
    async def write(request: Request) -> dict[str, object]:
        request.session["cart"] = [1, 2.5, {"sku": "ink"}]
        return {}

    @app.get("/logout")
    async def sign_out(request: Request) -> dict[str, object]:
        await logout(request)
        return {}

    return app


@contextmanager
def uvicorn_thread(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)


@pytest.fixture(params=["redis", "cluster"])
def shared_settings(request: pytest.FixtureRequest, key_prefix: str) -> Settings:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return Settings(redis_url=server.url, key_prefix=key_prefix)
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    return Settings(redis_url=cluster_url(cluster), key_prefix=key_prefix)


def test_one_session_across_fastapi_flask_and_django(shared_settings: Settings) -> None:
    flask_sessions = SyncSessionManager.from_settings(shared_settings)
    django_sessions = SyncSessionManager.from_settings(shared_settings)
    use_sessions(django_sessions)
    try:
        with (
            uvicorn_thread(fastapi_app(shared_settings)) as fastapi,
            waitress_server(build_flask_app(flask_sessions)) as flask,
            waitress_server(wsgi_app()) as django,
            httpx.Client() as browser,
        ):
            browser.get(f"{flask}/login/amira", params={"theme": "dark"})  # sign in on Flask

            assert browser.get(f"{fastapi}/").json() == {"data": {"theme": "dark"}, "user": "amira"}
            browser.get(f"{fastapi}/write")  # change the data on FastAPI
            on_django = browser.get(f"{django}/").json()
            assert on_django["user"] == "amira"
            assert on_django["data"] == {"theme": "dark", "cart": [1, 2.5, {"sku": "ink"}]}  # read back identically

            browser.get(f"{django}/write", params={"lang": "ar"})  # and on Django
            assert browser.get(f"{flask}/").json()["data"] == {
                "theme": "dark",
                "cart": [1, 2.5, {"sku": "ink"}],
                "lang": "ar",
            }
            token = browser.cookies["session_token"]

            browser.get(f"{fastapi}/logout")  # sign out on one
            browser.cookies.set("session_token", token)  # even a browser that kept the cookie
            assert browser.get(f"{flask}/").json()["user"] is None
            browser.cookies.set("session_token", token)
            assert browser.get(f"{django}/").json()["user"] is None
            browser.cookies.set("session_token", token)
            assert browser.get(f"{fastapi}/").json()["user"] is None
    finally:
        flask_sessions.close()
        django_sessions.close()
