"""Fixtures shared by the whole suite: a real redis-server, a movable clock, and managers on every backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from sessionhub import SessionManager, Settings
from sessionhub.sync import SyncSessionManager
from tests.support.clock import FakeClock
from tests.support.deployments import BACKENDS, backend_factory
from tests.support.managers import MakeBackend, MakeManager, MakeSync
from tests.support.redis_servers import RedisCluster, RedisSentinelGroup, RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    yield server
    server.stop()


# -- Redis Cluster and Sentinel: the contract on every deployment (issue 8) ---------------------------------------


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """Three masters joined by `redis-cli --cluster create`, shared by the session (tests use their own prefix)."""
    cluster = RedisCluster.start(masters=3)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinels() -> Iterator[RedisSentinelGroup]:
    """A primary, a replica and three Sentinels, shared by the session; failover tests start their own."""
    group = RedisSentinelGroup.start(service_name="sessionhub")
    yield group
    group.stop()


# ------------------------------------------------------------------------------------------------------------------


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


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_backend(request: pytest.FixtureRequest, backend_name: str, key_prefix: str) -> MakeBackend:
    factory = backend_factory(request, backend_name)
    return lambda: factory(key_prefix)


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


# -- the sync API and the WSGI frameworks: memory, one Redis (alone and behind the outage fallback), Cluster ------


@pytest.fixture(params=["memory", "redis", "resilient", "cluster"])
def sync_backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_sync(request: pytest.FixtureRequest, sync_backend: str, key_prefix: str) -> Iterator[MakeSync]:
    """Sync managers on the test's deployment with the given settings; all are closed afterwards."""
    factory = backend_factory(request, sync_backend)
    made: list[SyncSessionManager] = []

    def make(**settings: Any) -> SyncSessionManager:
        config = Settings(key_prefix=key_prefix, **settings)
        sessions = SyncSessionManager(lambda: SessionManager(factory(key_prefix), config))
        made.append(sessions)
        return sessions

    yield make
    for sessions in made:
        sessions.close()
