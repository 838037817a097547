"""Fixtures shared by the whole suite: a real redis-server, a movable clock, and managers on every backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from sessionhub import SessionManager, Settings
from sessionhub.backends import MemoryBackend, RedisBackend, ResilientBackend, SessionBackend
from tests.support.redis_servers import RedisServer

BACKENDS = ["memory", "redis", "resilient"]


class FakeClock:
    """Seconds since the epoch that move only when a test says so, for both backends alike."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def key_prefix() -> str:
    """A prefix of its own per test, so tests share one server without seeing each other's keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


MakeBackend = Callable[[], SessionBackend]
MakeManager = Callable[..., Awaitable[SessionManager]]


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name in ("redis", "resilient"):
        request.getfixturevalue("redis_server")
    return name


@pytest.fixture
def make_backend(request: pytest.FixtureRequest, backend_name: str, key_prefix: str) -> MakeBackend:
    def make() -> SessionBackend:
        if backend_name == "memory":
            return MemoryBackend()
        server: RedisServer = request.getfixturevalue("redis_server")
        return backend_for(backend_name, server.url, key_prefix)

    return make


def backend_for(name: str, redis_url: str, key_prefix: str) -> SessionBackend:
    """A backend of the contract suite: memory, Redis, or Redis behind ResilientBackend."""
    if name == "memory":
        return MemoryBackend()
    redis = RedisBackend.from_url(redis_url, key_prefix=key_prefix)
    return ResilientBackend(redis) if name == "resilient" else redis


@pytest.fixture
async def make_manager(make_backend: MakeBackend, clock: FakeClock, key_prefix: str) -> AsyncIterator[MakeManager]:
    """Build opened managers on the test's backend with the given settings; all are closed afterwards."""
    managers: list[SessionManager] = []

    async def make(**settings: Any) -> SessionManager:
        settings.setdefault("key_prefix", key_prefix)
        manager = SessionManager(make_backend(), Settings(**settings), clock=clock)
        await manager.open()
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        await manager.close()


@pytest.fixture
async def manager(make_manager: MakeManager) -> SessionManager:
    return await make_manager(session_ttl=600, absolute_ttl=3600)
