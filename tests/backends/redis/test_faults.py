"""RedisBackend under faults of its own connections: connections killed mid-call (no effect twice, no lost reply),
a Redis at maxmemory (reads and revocations still served), and more callers than connections (they wait)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from sessionhub import BackendUnavailable, SessionManager, SessionNotFound, Settings
from sessionhub.backends import RedisBackend
from sessionhub.backends.resilient import ResilientBackend
from tests.support.clock import FakeClock
from tests.support.redis_servers import ConnectionKiller, RedisServer

T = TypeVar("T")

SESSIONS = 8
ROUNDS = 30
MIN_KILLED = 100
"""Connections the killer must have ended before the browsers stop (they go on past ROUNDS until then)."""
MAX_ROUNDS = 190
"""Below max_messages (200): every message a browser appended is still in its conversation."""


@pytest.fixture
async def direct(own_server: RedisServer, key_prefix: str, clock: FakeClock) -> AsyncIterator[SessionManager]:
    """A manager straight on Redis (no fallback): every failure would reach the test."""
    backend = RedisBackend.from_url(own_server.url, key_prefix=key_prefix, client_cache=0)
    async with SessionManager(backend, Settings(key_prefix=key_prefix), clock=clock) as manager:
        yield manager


async def test_killed_connections_never_apply_a_write_twice_nor_lose_its_reply(
    direct: SessionManager, own_server: RedisServer, clock: FakeClock
) -> None:
    """Appends, rotations and deletes while every connection is killed every few ms: a call that returns did what
    it says exactly once (no message twice, a rotation's token works, a delete says True); a call that fails says
    BackendUnavailable (its connection broke twice in a row)."""
    manager = direct
    tokens = [(await manager.create()).token for _ in range(SESSIONS)]
    appended: dict[int, list[str]] = {index: [] for index in range(SESSIONS)}
    outcomes: Counter[str] = Counter()
    uncertain: set[int] = set()
    """Browsers whose last rotation failed as unavailable: it may have happened, and then their token is stale."""

    async def user(index: int) -> None:
        for round_ in range(MAX_ROUNDS):
            if round_ >= ROUNDS and killer.killed >= MIN_KILLED:
                return
            text = f"{index}-{round_}"
            try:
                await manager.add_message(tokens[index], "user", text)
                appended[index].append(text)
            except BackendUnavailable:
                outcomes["unavailable"] += 1
                continue
            except SessionNotFound:
                assert index in uncertain, "a rotation that returned left a token that does not work"
                return
            try:
                tokens[index] = (await manager.rotate(tokens[index])).token
                uncertain.discard(index)
                outcomes["ok"] += 1
            except BackendUnavailable:
                outcomes["unavailable"] += 1
                uncertain.add(index)

    with ConnectionKiller(own_server) as killer:
        await asyncio.gather(*(user(index) for index in range(SESSIONS)))
        deleted = await asyncio.gather(
            *(manager.delete(token) for token in tokens[: SESSIONS // 2]), return_exceptions=True
        )
    for index in set(range(SESSIONS // 2, SESSIONS)) - uncertain:
        texts = [message.content for message in await manager.get_messages(tokens[index])]
        assert len(texts) == len(set(texts)), "a message was appended twice"
        assert set(appended[index]) <= set(texts), "an append that returned is missing"
    assert all(
        result is True or isinstance(result, BackendUnavailable) or index in uncertain
        for index, result in enumerate(deleted)
    )
    for index, (token, result) in enumerate(zip(tokens, deleted, strict=False)):
        if index not in uncertain and result is True:
            assert await manager.get(token) is None
    assert killer.killed >= MIN_KILLED
    assert manager.backend.stats()["resent_calls"] > 0
    assert outcomes["ok"] >= SESSIONS  # rounds get through (how many depends on the machine's speed)
    assert len(uncertain) <= SESSIONS // 2


async def test_a_rotation_whose_reply_was_lost_returns_the_token_it_made(
    direct: SessionManager, own_server: RedisServer
) -> None:
    """The resend finds the first run's reply (the same new id), instead of SessionNotFound for the old one."""
    manager = direct
    backend = manager.backend
    assert isinstance(backend, RedisBackend)
    session = await manager.create(user_id="ada")
    lost = 0
    send_through = backend._call

    async def reply_lost_once(send: Callable[[], Awaitable[T]]) -> T:
        """The first send reaches Redis, and then its connection breaks before the reply is read."""

        async def sent_then_broken() -> T:
            nonlocal lost
            reply = await send()
            if not lost:
                lost += 1
                raise RedisConnectionError("Connection closed by server.")
            return reply

        return await send_through(sent_then_broken)

    backend._call = reply_lost_once  # type: ignore[method-assign]
    try:
        rotated = await manager.rotate(session.token)
    finally:
        backend._call = send_through  # type: ignore[method-assign]
    assert lost == 1
    assert (await manager.get(rotated.token)) is not None
    with pytest.raises(SessionNotFound):
        await manager.rotate(session.token)
    assert [s.id for s in await manager.list_user_sessions("ada")] == [rotated.id]


# -- a full Redis -----------------------------------------------------------------------------------------------


async def test_a_redis_at_maxmemory_still_serves_reads_touches_and_revocations(
    own_server: RedisServer, key_prefix: str, clock: FakeClock
) -> None:
    """Under `noeviction` Redis refuses what may grow memory: new sessions and saves fail as BackendUnavailable and
    write nothing, but reads (with the touch that keeps a user signed in), listings and logouts go on."""
    backend = RedisBackend.from_url(own_server.url, key_prefix=key_prefix, client_cache=0)
    settings = Settings(key_prefix=key_prefix, session_ttl=600, touch_interval=10)
    async with SessionManager(backend, settings, clock=clock) as manager:
        sessions = [await manager.create(user_id="ada", data={"n": n}) for n in range(3)]
        with own_server.client() as admin:
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) - 1)
            try:
                keys_before = admin.dbsize()
                with pytest.raises(BackendUnavailable, match="OutOfMemoryError"):
                    await manager.create(data={"x": 1})
                loaded = await manager.get(sessions[0].token)
                assert loaded is not None
                loaded.data["more"] = "x" * 1000
                with pytest.raises(BackendUnavailable, match="OutOfMemoryError"):
                    await manager.save(loaded)
                clock.advance(60)  # past the touch interval: this read slides the deadline
                touched = await manager.get(sessions[0].token)
                assert touched is not None
                assert "more" not in touched.data
                assert touched.expires_at > loaded.expires_at
                assert len(await manager.list_user_sessions("ada")) == 3
                assert await manager.delete(sessions[1].token)
                assert await manager.revoke_user_sessions("ada") == 2
                assert admin.dbsize() <= keys_before + 3  # at most the replies kept for a resend, and the log
            finally:
                admin.config_set("maxmemory", 0)


# -- more callers than connections ------------------------------------------------------------------------------


async def test_a_thousand_concurrent_callers_wait_for_a_connection_and_none_falls_back(
    own_server: RedisServer, key_prefix: str
) -> None:
    """Through the default stack: 1,000 callers at once on 100 connections wait for one (the wait is counted), none
    fails and none is served from memory (the breaker stays closed). The burst's own Python work keeps the event
    loop busy for ~0.2 s on the 2-core test machine, and that counts against the calls in flight as much as Redis'
    time: a second of call timeout keeps this about the pool, not the machine's speed (docs/operations.md)."""
    settings = Settings(redis_url=own_server.url, key_prefix=key_prefix, redis_call_timeout=1.0)
    async with SessionManager.from_settings(settings) as manager:
        assert isinstance(manager.backend, ResilientBackend)
        created = await asyncio.gather(*(manager.create(data={"n": n}) for n in range(1000)))
        loaded = await asyncio.gather(*(manager.get(session.token) for session in created))
        assert all(session is not None for session in loaded)
        stats = await manager.stats()
    assert stats["served_by_fallback"] == 0
    assert stats["breaker"] == "closed"
    assert stats["connection_waits"] > 0
    assert stats["connection_waits_given_up"] == 0
    with own_server.client() as admin:
        assert int(admin.info("stats")["total_connections_received"]) <= 100 + 10  # the pool, the cache, probes


async def test_a_caller_that_cannot_get_a_connection_in_time_is_told_the_store_is_unavailable(
    own_server: RedisServer, key_prefix: str, clock: FakeClock
) -> None:
    backend = RedisBackend.from_url(own_server.url, key_prefix=key_prefix, client_cache=0, max_connections=1)
    backend.connection_wait = 0.05
    async with SessionManager(backend, Settings(key_prefix=key_prefix), clock=clock) as manager:
        session = await manager.create()
        with own_server.client() as admin:
            admin.client_pause(300)  # the one connection's call hangs for 300 ms
        results = await asyncio.gather(manager.get(session.token), manager.get(session.token), return_exceptions=True)
    assert sum(isinstance(result, BackendUnavailable) for result in results) == 1
    unavailable = next(result for result in results if isinstance(result, BackendUnavailable))
    assert "redis answered no call for 0.05 s while callers waited for one of its 1 connections" in str(unavailable)
    assert backend.stats()["connection_waits_given_up"] == 1
