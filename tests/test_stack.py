"""One wiring from settings to a store stack (sessionhub.stack), shared by the manager, the CLI and the demo."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from sessionhub import SessionManager, Settings
from sessionhub.backends import MemoryBackend, RedisBackend, ResilientBackend
from sessionhub.cli._common import backend_for
from sessionhub.stack import build_backend
from tests.support.redis_servers import RedisCluster, RedisServer

UNREACHABLE = "redis://127.0.0.1:1/0"


def test_memory_without_a_redis_url_or_when_testing() -> None:
    assert isinstance(build_backend(Settings()), MemoryBackend)
    assert isinstance(build_backend(Settings(redis_url=UNREACHABLE, testing=True)), MemoryBackend)


def test_the_outage_fallback_follows_the_setting_unless_the_caller_decides() -> None:
    assert isinstance(build_backend(Settings(redis_url=UNREACHABLE)), ResilientBackend)
    assert isinstance(build_backend(Settings(redis_url=UNREACHABLE, redis_fallback=False)), RedisBackend)
    assert isinstance(build_backend(Settings(redis_url=UNREACHABLE), outage_fallback=False), RedisBackend)


def test_behind_the_fallback_the_sockets_give_up_with_the_call_timeout() -> None:
    backend = build_backend(Settings(redis_url=UNREACHABLE, redis_call_timeout=0.1))
    assert isinstance(backend, ResilientBackend)
    assert isinstance(backend.primary, RedisBackend)
    client = backend.primary.client
    assert isinstance(client, Redis)
    options = client.connection_pool.connection_kwargs
    assert (options["socket_timeout"], options["socket_connect_timeout"]) == (0.1, 0.1)


def test_the_cli_and_the_manager_build_the_same_redis_backend() -> None:
    """The CLI used to build its own, ignoring redis_client_cache and redis_cluster."""
    settings = Settings(redis_url=UNREACHABLE, redis_client_cache=0, key_prefix="wired")
    for backend in (backend_for(settings), build_backend(settings, outage_fallback=False)):
        assert isinstance(backend, RedisBackend)
        assert backend.cache is None
        assert backend.keys.prefix == "wired"
    managed = SessionManager.from_settings(settings).backend
    assert isinstance(managed, ResilientBackend)
    assert isinstance(managed.primary, RedisBackend)
    assert managed.primary.cache is None


def test_the_client_cache_setting_reaches_the_backend(redis_server: RedisServer) -> None:
    backend = build_backend(Settings(redis_url=redis_server.url, redis_client_cache=12), outage_fallback=False)
    assert isinstance(backend, RedisBackend)
    assert backend.cache is not None
    assert backend.cache.max_entries == 12


async def test_the_cli_reaches_a_cluster_named_by_the_setting(redis_cluster: RedisCluster) -> None:
    host, port = redis_cluster.startup_nodes[0]
    settings = Settings(redis_url=f"redis://{host}:{port}/0", redis_cluster=True, key_prefix="wired-cli")
    backend = backend_for(settings)
    assert isinstance(backend, RedisBackend)
    assert isinstance(backend.client, ClusterClient)
    async with SessionManager(backend, settings) as manager:
        session = await manager.create(user_id="ada")
        assert [listed.id for listed in await manager.list_user_sessions("ada")] == [session.id]
