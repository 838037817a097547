"""The Redis client-side cache (backends/redis/client_cache.py) against real redis-server processes: what it caches,
what makes it forget (writes here, writes by another client, expiry, flushes, a lost or silent tracking connection, a
restart), and that it never serves what a read in flight missed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from sessionhub.backends import RedisBackend, ResilientBackend
from sessionhub.backends.redis.client_cache import TrackedCache
from sessionhub.client import ClientInfo
from sessionhub.manager import SessionManager
from sessionhub.model import SessionRecord
from sessionhub.settings import Settings
from tests.support.clock import FakeClock
from tests.support.redis_servers import RedisServer
from tests.support.waiting import wait_until

WAIT = 10.0
NOW = 1_000
TOUCH_INTERVAL = 60_000


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for something the cache does in the background, such as reconnecting."""
    await wait_until(condition, what, deadline=time.monotonic() + WAIT)


def record(session_id: str = "ab" + "0" * 32, **data: bytes) -> SessionRecord:
    return SessionRecord(
        id=session_id,
        user_id=None,
        kind="default",
        created_at=1,
        last_active_at=1,
        expires_at=10**13,
        absolute_expires_at=10**13,
        idle_ttl=60_000,
        client=ClientInfo(),
        data=dict(data),
    )


@pytest.fixture
async def backend(redis_server: RedisServer, key_prefix: str) -> AsyncIterator[RedisBackend]:
    async with RedisBackend.from_url(redis_server.url, key_prefix=key_prefix, client_cache=100) as backend:
        yield backend


@pytest.fixture
async def own_backend(own_server: RedisServer, key_prefix: str) -> AsyncIterator[RedisBackend]:
    async with RedisBackend.from_url(own_server.url, key_prefix=key_prefix, client_cache=10) as backend:
        yield backend


def cache_of(backend: RedisBackend) -> TrackedCache:
    assert backend.cache is not None
    return backend.cache


def fresh(cache: TrackedCache, key: str) -> SessionRecord | None:
    return cache.fresh(key, NOW, TOUCH_INTERVAL)


def cached(cache: TrackedCache, key: str, value: SessionRecord) -> None:
    read = cache.begin(key)
    assert read is not None, "tracking is on"
    cache.complete(read, value)


async def test_tracking_is_on_once_open(backend: RedisBackend) -> None:
    cache = cache_of(backend)
    assert cache.tracking
    assert cache.stats()["tracking"] is True


async def test_a_read_is_cached_and_served_as_a_copy(backend: RedisBackend) -> None:
    cache = cache_of(backend)
    key = backend.keys.session("ab" + "1" * 32)
    cached(cache, key, record(x=b"1"))
    first = fresh(cache, key)
    assert first is not None
    assert first.data == {"x": b"1"}
    first.data["x"] = b"changed"
    first.expires_at = 0
    second = fresh(cache, key)
    assert second is not None
    assert second.data == {"x": b"1"}
    assert second.expires_at == 10**13


async def test_only_a_live_record_that_is_not_due_to_slide_is_served(backend: RedisBackend) -> None:
    cache = cache_of(backend)
    key = backend.keys.session("ab" + "a" * 32)
    cached(cache, key, record())  # last slid at 1 ms, idle timeout 60 s: due from 6 s (a tenth of it) on
    assert cache.fresh(key, 5_999, TOUCH_INTERVAL) is not None
    assert cache.fresh(key, 6_001, TOUCH_INTERVAL) is None
    assert cache.fresh(key, 10**13, 10**9) is None, "past its deadline"
    assert cache.stats()["hits"] == 1


async def test_a_write_by_another_client_invalidates(backend: RedisBackend, redis_client: Redis) -> None:
    cache = cache_of(backend)
    key = backend.keys.session("ab" + "2" * 32)
    cached(cache, key, record())
    await redis_client.hset(key, "d:x", b"2")
    await cache.sync()
    assert fresh(cache, key) is None
    assert cache.stats()["invalidations"] == 1


async def test_keys_outside_the_prefix_are_not_reported(backend: RedisBackend, redis_client: Redis) -> None:
    cache = cache_of(backend)
    key = backend.keys.session("ab" + "3" * 32)
    cached(cache, key, record())
    await redis_client.set(f"other-{key}", b"1")
    await cache.sync()
    assert fresh(cache, key) is not None


async def test_expiry_in_redis_invalidates(backend: RedisBackend, redis_client: Redis) -> None:
    cache = cache_of(backend)
    key = backend.keys.session("ab" + "4" * 32)
    await redis_client.hset(key, "e", b"1")
    cached(cache, key, record())
    await redis_client.pexpire(key, 1)
    deadline = time.monotonic() + WAIT
    while await redis_client.exists(key):  # an access past its TTL expires it
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    await cache.sync()
    assert fresh(cache, key) is None


async def test_a_flush_empties_the_cache(own_backend: RedisBackend) -> None:
    cache = cache_of(own_backend)
    keys = [own_backend.keys.session(f"ab{n:032d}") for n in range(3)]
    for key in keys:
        cached(cache, key, record())
    await own_backend.client.flushdb()
    await cache.sync()
    assert all(fresh(cache, key) is None for key in keys)


async def test_an_invalidation_during_a_read_keeps_its_answer_out(backend: RedisBackend) -> None:
    cache = cache_of(backend)
    key = backend.keys.session("ab" + "5" * 32)
    read = cache.begin(key)
    assert read is not None
    cache.invalidate([key])  # Redis reported a change while the answer was on its way
    cache.complete(read, record())
    assert fresh(cache, key) is None
    again = cache.begin(key)
    assert again is not None
    cache.complete(again, record())
    assert fresh(cache, key) is not None


async def test_a_read_begun_before_tracking_stopped_is_not_cached(backend: RedisBackend) -> None:
    cache = cache_of(backend)
    key = backend.keys.session("ab" + "6" * 32)
    read = cache.begin(key)
    assert read is not None
    await backend.client.client_kill_filter(_type="pubsub")
    await until(lambda: cache.stats()["resets"] >= 1, "the cache saw its connection go")
    await until(lambda: cache.tracking, "tracking is back on")
    cache.complete(read, record())
    assert fresh(cache, key) is None


async def test_losing_the_tracking_connection_empties_the_cache_until_it_is_back(backend: RedisBackend) -> None:
    cache = cache_of(backend)
    key = backend.keys.session("ab" + "7" * 32)
    cached(cache, key, record())
    await backend.client.client_kill_filter(_type="pubsub")
    await until(lambda: cache.stats()["resets"] >= 1, "the cache saw its connection go")
    assert fresh(cache, key) is None
    await until(lambda: cache.tracking, "tracking is back on")
    cached(cache, key, record())
    assert fresh(cache, key) is not None


async def test_a_silent_tracking_connection_is_given_up(own_server: RedisServer, own_backend: RedisBackend) -> None:
    cache = cache_of(own_backend)
    key = own_backend.keys.session("ab" + "8" * 32)
    cached(cache, key, record())
    own_server.pause()  # the connection stays open and says nothing: the watchdog's PING goes unanswered
    try:
        await until(lambda: not cache.tracking, "the watchdog gave up on the connection")
        assert fresh(cache, key) is None
    finally:
        own_server.resume()
    await until(lambda: cache.tracking, "tracking is back on")


async def test_a_restart_empties_the_cache_and_tracking_resumes(
    own_server: RedisServer, own_backend: RedisBackend
) -> None:
    cache = cache_of(own_backend)
    key = own_backend.keys.session("ab" + "9" * 32)
    cached(cache, key, record())
    own_server.kill()
    await until(lambda: cache.stats()["resets"] >= 1, "the cache saw its connection go")
    assert fresh(cache, key) is None
    own_server.restart()
    await until(lambda: cache.tracking, "tracking is back on")
    client = own_server.client()
    client.hset(key, "d:x", b"1")
    cached(cache, key, record())
    client.hset(key, "d:x", b"2")
    client.close()
    await cache.sync()
    assert fresh(cache, key) is None, "the new connection tracks the prefix too"


async def test_least_recently_used_entries_go_first(redis_server: RedisServer, key_prefix: str) -> None:
    backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix, client_cache=2)
    await backend.open()
    try:
        cache = cache_of(backend)
        first, second, third = (backend.keys.session(f"ab{n:032d}") for n in range(3))
        cached(cache, first, record())
        cached(cache, second, record())
        assert fresh(cache, first) is not None  # now the most recently used
        cached(cache, third, record())
        assert fresh(cache, second) is None
        assert fresh(cache, first) is not None
        assert fresh(cache, third) is not None
    finally:
        await backend.close()


async def test_no_tracking_connection_once_closed(redis_server: RedisServer, key_prefix: str) -> None:
    backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix, client_cache=10)
    probe = redis_server.client()
    try:
        before = len(probe.client_list(_type="pubsub"))
        await backend.open()
        assert len(probe.client_list(_type="pubsub")) == before + 1
        await backend.close()
        assert len(probe.client_list(_type="pubsub")) == before
        assert not cache_of(backend).tracking
    finally:
        probe.close()


def test_off_when_zero_and_on_a_cluster_or_behind_sentinel(redis_server: RedisServer) -> None:
    assert RedisBackend.from_url(redis_server.url, client_cache=0).cache is None
    assert RedisBackend.from_url("redis+sentinel://127.0.0.1:1/primary").cache is None
    assert RedisBackend.from_url("redis+cluster://127.0.0.1:1").cache is None


# -- through SessionManager: what an application sees --------------------------------------------------------------


@pytest.fixture
async def two_processes(
    redis_server: RedisServer, key_prefix: str, clock: FakeClock
) -> AsyncIterator[tuple[SessionManager, SessionManager]]:
    """Two managers on their own connections to one Redis, as two processes of an application would be."""
    managers = [
        SessionManager(
            RedisBackend.from_url(redis_server.url, key_prefix=key_prefix), Settings(key_prefix=key_prefix), clock=clock
        )
        for _ in range(2)
    ]
    for manager in managers:
        await manager.open()
    yield managers[0], managers[1]
    for manager in managers:
        await manager.close()


def cache_of_manager(manager: SessionManager) -> TrackedCache:
    assert isinstance(manager.backend, RedisBackend)
    return cache_of(manager.backend)


async def read_until_cached(manager: SessionManager, token: str | None) -> None:
    """Read a session until the cache serves it (once the messages about its own writes have arrived)."""
    assert token is not None
    cache = cache_of_manager(manager)
    await cache.sync()
    assert await manager.get(token) is not None
    hits = cache.hits
    assert await manager.get(token) is not None
    assert cache.hits == hits + 1, "served from the cache"


async def test_a_repeated_read_is_served_from_the_cache(two_processes: tuple[SessionManager, SessionManager]) -> None:
    here, _ = two_processes
    session = await here.create(user_id="alice", data={"n": 1})
    # The create's own invalidation message could arrive while the first read is in flight, which keeps that read
    # out of the cache (the cache cannot tell whose write it reports): wait for it first.
    await cache_of_manager(here).sync()
    await here.get(session.token)
    hits = cache_of_manager(here).hits
    again = await here.get(session.token)
    assert again is not None
    assert again.data == {"n": 1}
    assert again.user_id == "alice"
    assert cache_of_manager(here).hits == hits + 1


async def test_a_logout_elsewhere_ends_the_cached_session(two_processes: tuple[SessionManager, SessionManager]) -> None:
    here, there = two_processes
    session = await here.create(user_id="alice")
    await read_until_cached(here, session.token)
    assert await there.delete(session.token)
    await cache_of_manager(here).sync()
    assert await here.get(session.token) is None


async def test_revoking_a_user_elsewhere_ends_every_cached_session(
    two_processes: tuple[SessionManager, SessionManager],
) -> None:
    here, there = two_processes
    sessions = [await here.create(user_id="alice") for _ in range(3)]
    for session in sessions:
        await read_until_cached(here, session.token)
    assert await there.revoke_user_sessions("alice") == 3
    await cache_of_manager(here).sync()
    assert [await here.get(session.token) for session in sessions] == [None, None, None]


async def test_a_save_elsewhere_is_read_here(two_processes: tuple[SessionManager, SessionManager]) -> None:
    here, there = two_processes
    session = await here.create(data={"n": 1})
    await read_until_cached(here, session.token)
    other = await there.get(session.token)
    assert other is not None
    other.data["n"] = 2
    await there.save(other)
    await cache_of_manager(here).sync()
    loaded = await here.get(session.token)
    assert loaded is not None
    assert loaded.data == {"n": 2}


async def test_a_process_reads_its_own_writes_at_once(two_processes: tuple[SessionManager, SessionManager]) -> None:
    here, _ = two_processes  # no sync(): this process's writes must not wait for Redis's message
    session = await here.create(user_id="alice", data={"n": 1})
    await read_until_cached(here, session.token)
    loaded = await here.get(session.token)
    assert loaded is not None
    loaded.data["n"] = 2
    await here.save(loaded)
    reloaded = await here.get(session.token)
    assert reloaded is not None
    assert reloaded.data == {"n": 2}
    rotated = await here.rotate(session.token)
    assert await here.get(session.token) is None
    assert await here.get(rotated.token) is not None
    await here.revoke_user_sessions("alice")
    assert await here.get(rotated.token) is None


async def test_a_cached_session_still_expires_and_slides_on_time(
    two_processes: tuple[SessionManager, SessionManager], clock: FakeClock
) -> None:
    here, there = two_processes
    session = await here.create()
    await read_until_cached(here, session.token)
    idle = here.settings.session_ttl
    interval = min(here.settings.touch_interval, idle / 10)
    clock.now += interval  # due: this read goes to Redis and slides the deadline
    slid = await here.get(session.token)
    assert slid is not None
    assert slid.expires_at.timestamp() == pytest.approx(clock.now + idle)
    clock.now += idle  # past the idle deadline, whatever the cache holds
    assert await here.get(session.token) is None
    assert await there.get(session.token) is None


async def test_redis_restarting_empty_never_serves_a_cached_session(
    own_server: RedisServer, key_prefix: str, clock: FakeClock
) -> None:
    backend = RedisBackend.from_url(own_server.url, key_prefix=key_prefix)
    async with SessionManager(backend, Settings(key_prefix=key_prefix), clock=clock) as manager:
        session = await manager.create()
        await read_until_cached(manager, session.token)
        own_server.kill()
        own_server.restart()
        cache = cache_of_manager(manager)
        await until(lambda: cache.stats()["resets"] >= 1, "the cache saw its connection go")
        assert await manager.get(session.token) is None


async def test_an_idle_tracking_connection_outlives_a_short_call_timeout(
    redis_server: RedisServer, key_prefix: str
) -> None:
    # ResilientBackend gives every Redis call 0.25 s; the tracking connection waits for messages far longer.
    settings = Settings(redis_url=redis_server.url, key_prefix=key_prefix, redis_call_timeout=0.05)
    async with SessionManager.from_settings(settings) as manager:
        primary = manager.backend.primary if isinstance(manager.backend, ResilientBackend) else manager.backend
        assert isinstance(primary, RedisBackend)
        cache = cache_of(primary)
        assert cache.tracking
        await asyncio.sleep(0.3)  # idle for six call timeouts: what this test is about
        assert cache.tracking
        assert cache.stats()["resets"] == 0
