"""Fixtures for the ASGI tests: managers whose backend calls are counted, and HTTP clients that reach an app either
in-process (httpx.ASGITransport) or through a real uvicorn server on a free loopback port."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import ConnectionPool, Redis
from starlette.types import ASGIApp

from sessionhub import SessionManager, Settings
from sessionhub.backends import MemoryBackend, RedisBackend, SessionBackend
from tests.support.clock import FakeClock
from tests.support.counting import CountingConnection
from tests.support.redis_servers import HOST, RedisServer, free_port

SERVER_START_TIMEOUT = 10.0
IDLE = 600
ABSOLUTE = 3600


class RoundTrips:
    """Round trips to the store so far: Redis commands sent, or for the memory backend, backend calls (each of
    which would be one round trip on Redis)."""

    def __init__(self, backend_name: str) -> None:
        self.backend_name = backend_name
        self.memory_calls = 0

    @property
    def count(self) -> int:
        return CountingConnection.sent if self.backend_name == "redis" else self.memory_calls

    def counted(self, backend: MemoryBackend) -> MemoryBackend:
        for name in (
            *("load", "create", "update", "rotate", "login", "delete", "list_user", "delete_user"),
            *("report_reuse", "flag_risk", "security_events"),
        ):
            setattr(backend, name, self._wrap(getattr(backend, name)))
        return backend

    def _wrap(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.memory_calls += 1
            return await method(*args, **kwargs)

        return call


@pytest.fixture(params=["memory", "redis"])
def backend_name(request: pytest.FixtureRequest) -> str:
    """The middleware sees only the manager: one Redis server stands for every Redis deployment here."""
    name: str = request.param
    return name


@pytest.fixture
def round_trips(backend_name: str) -> RoundTrips:
    return RoundTrips(backend_name)


MakeCountedManager = Callable[..., Awaitable[SessionManager]]


@pytest.fixture
async def make_counted_manager(
    request: pytest.FixtureRequest, backend_name: str, round_trips: RoundTrips, clock: FakeClock, key_prefix: str
) -> AsyncIterator[MakeCountedManager]:
    async with AsyncExitStack() as stack:

        async def make(**settings: Any) -> SessionManager:
            settings = {"key_prefix": key_prefix, "session_ttl": IDLE, "absolute_ttl": ABSOLUTE, **settings}
            backend: SessionBackend
            if backend_name == "redis":
                server: RedisServer = request.getfixturevalue("redis_server")
                pool = ConnectionPool(
                    host=server.host, port=server.port, connection_class=CountingConnection, health_check_interval=0
                )
                stack.push_async_callback(pool.aclose)
                backend = RedisBackend(Redis(connection_pool=pool), key_prefix=key_prefix)
            else:
                backend = round_trips.counted(MemoryBackend())
            manager = SessionManager(backend, Settings(**settings), clock=clock)
            await manager.open()
            stack.push_async_callback(manager.close)
            return manager

        yield make


@pytest.fixture
async def manager(make_counted_manager: MakeCountedManager) -> SessionManager:
    return await make_counted_manager()


@asynccontextmanager
async def uvicorn_server(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port, in this event loop (so it shares the test's manager)."""
    port = free_port()
    # proxy_headers off: uvicorn would otherwise trust X-Forwarded-For from loopback clients, which are these tests.
    config = uvicorn.Config(app, host=HOST, port=port, lifespan="off", log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(SERVER_START_TIMEOUT):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        await task


MakeClient = Callable[[ASGIApp], Awaitable[httpx.AsyncClient]]


@pytest.fixture(params=["asgi", "uvicorn"])
async def make_client(request: pytest.FixtureRequest) -> AsyncIterator[MakeClient]:
    """Clients with a cookie jar for an app, in-process or over real HTTP; all are closed afterwards."""
    async with AsyncExitStack() as stack:

        async def make(app: ASGIApp) -> httpx.AsyncClient:
            if request.param == "asgi":
                # Errors become 500 responses, as a server would send, so both transports answer alike.
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                return await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://testserver")
                )
            base_url = await stack.enter_async_context(uvicorn_server(app))
            return await stack.enter_async_context(httpx.AsyncClient(base_url=base_url))

        yield make


async def websocket_messages(app: ASGIApp, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Connect to a websocket route in-process and return what the app sent until it closed (httpx speaks no
    websocket; driving ASGI directly keeps the app in the test's event loop, next to a Redis-backed manager)."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            inbox.put_nowait({"type": "websocket.disconnect", "code": message.get("code", 1000)})

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "subprotocols": [],
    }
    async with asyncio.timeout(SERVER_START_TIMEOUT):
        await app(scope, receive, send)  # type: ignore[arg-type]
    return sent
