"""What only the Redis backend can show: key layout, TTLs, secrets at rest and round trips."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, cast

import pytest
from redis.asyncio import ConnectionPool, Redis

from sessionhub import BackendUnavailable, ClientInfo, ConfigurationError, SessionManager, SessionNotFound, Settings
from sessionhub.backends import RedisBackend
from sessionhub.backends.base import ImportedSession
from sessionhub.backends.redis.scripts import OPERATION_REPLY_TTL
from sessionhub.legacy import legacy_alias_id, migrated_session_id
from sessionhub.model import DataChanges
from sessionhub.tokens import bucket_for_user
from tests.support.clock import FakeClock
from tests.support.counting import CountingConnection
from tests.support.redis_servers import RedisServer, free_port


@pytest.fixture
async def counted(redis_server: RedisServer, key_prefix: str, clock: FakeClock) -> AsyncIterator[SessionManager]:
    pool = ConnectionPool(
        host=redis_server.host, port=redis_server.port, connection_class=CountingConnection, health_check_interval=0
    )
    # The client cache off: these tests count what each operation sends to Redis (test_client_cache.py counts what
    # a cached read saves).
    backend = RedisBackend(Redis(connection_pool=pool), key_prefix=key_prefix, client_cache=0)
    manager = SessionManager(backend, Settings(key_prefix=key_prefix, max_sessions_per_user=5), clock=clock)
    await manager.open()
    yield manager
    await manager.close()
    await pool.aclose()


async def round_trips(call: Any) -> int:
    before = CountingConnection.sent
    await call
    return CountingConnection.sent - before


async def test_each_operation_is_one_round_trip(counted: SessionManager, clock: FakeClock) -> None:
    manager = counted
    anonymous = await manager.create(data={"a": 1})
    assert await round_trips(manager.create(user_id="alice", data={"x": [1]})) == 1
    assert await round_trips(manager.get(anonymous.token)) == 1  # one plain HGETALL
    clock.advance(manager.settings.touch_interval)
    assert await round_trips(manager.get(anonymous.token)) == 2, "and the touch, once per touch interval"
    assert await round_trips(manager.get("malformed")) == 0
    unknown = anonymous.token[:2] + ("A" if anonymous.token[2] != "A" else "B") + anonymous.token[3:]  # type: ignore[index]
    assert await round_trips(manager.get(unknown)) == 2, "a miss: then whether it was rotated away"
    loaded = await manager.get(anonymous.token)
    assert loaded is not None
    assert await round_trips(manager.save(loaded)) == 0  # nothing changed: nothing sent
    loaded.data["b"] = 2
    assert await round_trips(manager.save(loaded)) == 1
    rotated = await manager.rotate(anonymous.token)
    assert await round_trips(manager.rotate(rotated.token)) == 1
    signed_in = await manager.login(None, "bob")
    assert await round_trips(manager.login(signed_in.token, "bob")) == 1
    assert await round_trips(manager.delete(signed_in.token)) == 1
    assert await round_trips(manager.list_user_sessions("alice")) == 1
    assert await round_trips(manager.revoke_user_sessions("alice")) == 1
    assert await round_trips(manager.stats()) == 1


async def test_moving_the_only_session_of_a_user_and_of_a_bucket_keeps_every_key_expiring(
    counted: SessionManager, redis_client: Redis, key_prefix: str
) -> None:
    """The move empties the user's index and the bucket's (their last member leaves) and fills them again: they must
    get their expiry back (a rotation used to leave both with none)."""
    session = await counted.create(user_id="only-one")
    rotated = await counted.rotate(session.token)
    backend = counted.backend
    assert isinstance(backend, RedisBackend)
    for key in (backend.keys.user("only-one"), backend.keys.index(rotated.id[:2])):
        assert 0 < await redis_client.pttl(key) <= 7 * 86_400_000, key


async def test_keys_follow_the_documented_layout(counted: SessionManager, redis_client: Redis, key_prefix: str) -> None:
    session = await counted.create(user_id="alice")
    anonymous = await counted.create()
    bucket = bucket_for_user("alice")
    assert session.id.startswith(bucket)
    keys = {key.decode() for key in cast(list[bytes], await redis_client.keys(f"{key_prefix}:*"))}
    operations = {key for key in keys if ":op:" in key}
    # Each create left its reply for a resend, in its own slot, for a few seconds.
    assert {key.split(":op:")[0] for key in operations} == {
        f"{key_prefix}:{{{bucket}}}",
        f"{key_prefix}:{{{anonymous.id[:2]}}}",
    }
    for key in operations:
        assert 0 < await redis_client.pttl(key) <= OPERATION_REPLY_TTL
    assert keys - operations == {
        f"{key_prefix}:{{{bucket}}}:s:{session.id[2:]}",
        f"{key_prefix}:{{{bucket}}}:u:alice",
        f"{key_prefix}:{{{bucket}}}:all",
        f"{key_prefix}:{{{bucket}}}:ev:alice",
        f"{key_prefix}:{{{anonymous.id[:2]}}}:s:{anonymous.id[2:]}",
        f"{key_prefix}:{{{anonymous.id[:2]}}}:all",
    }


async def test_every_key_has_a_ttl_and_no_token_is_stored(
    counted: SessionManager, redis_client: Redis, key_prefix: str
) -> None:
    tokens = []
    for user in ["alice", "bob", None]:
        session = await counted.create(user_id=user, data={"k": "v"})
        rotated = await counted.rotate(session.token)
        signed_in = await counted.login(rotated.token, "carol")
        tokens += [session.token, rotated.token, signed_in.token]

    keys = cast(list[bytes], await redis_client.keys(f"{key_prefix}:*"))
    assert keys
    dump: list[bytes] = []
    client: Any = redis_client  # replies are bytes (decode_responses is off); redis-py types them loosely
    for key in keys:
        assert await client.pttl(key) > 0, key
        dump.append(key)
        kind = await client.type(key)
        if kind == b"hash":
            dump += [v for pair in (await client.hgetall(key)).items() for v in pair]
        elif kind == b"stream":
            dump += [v for _, entry in await client.xrange(key) for pair in entry.items() for v in pair]
        elif kind == b"string":
            dump.append(await client.get(key))
        else:
            dump += await client.zrange(key, 0, -1)
    blob = b"\n".join(dump)
    for token in tokens:
        assert token is not None
        assert token.encode() not in blob


async def test_session_ttl_follows_the_idle_deadline(
    redis_server: RedisServer, redis_client: Redis, key_prefix: str
) -> None:
    backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix)
    async with SessionManager(backend, Settings(key_prefix=key_prefix, session_ttl=2, absolute_ttl=3)) as manager:
        session = await manager.create(user_id="alice")
        key = backend.keys.session(session.id)
        assert 1500 < await redis_client.pttl(key) <= 2000
        assert 2500 < await redis_client.pttl(backend.keys.user("alice")) <= 3000


async def test_unreachable_redis_raises_backend_unavailable() -> None:
    backend = RedisBackend.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    manager = SessionManager(backend)
    with pytest.raises(BackendUnavailable):
        await manager.open()
    with pytest.raises(BackendUnavailable) as raised:
        await manager.create(data={"x": 1})
    assert "redis" in str(raised.value)
    assert (await manager.health())["status"] == "down"
    await manager.close()


async def test_killed_redis_gives_backend_unavailable_then_recovers_after_restart(key_prefix: str) -> None:
    server = RedisServer.start()
    try:
        backend = RedisBackend.from_url(server.url, key_prefix=key_prefix, socket_timeout=0.5)
        async with SessionManager(backend, Settings(key_prefix=key_prefix)) as manager:
            session = await manager.create()
            server.kill()
            with pytest.raises(BackendUnavailable):
                await manager.get(session.token)
            server.restart()
            # An empty restart (no persistence) lost the session; the manager works again at once.
            assert await manager.get(session.token) is None
            assert await manager.get((await manager.create()).token) is not None
    finally:
        server.stop()


async def test_clients_that_decode_responses_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        RedisBackend(Redis(decode_responses=True))


def test_key_prefix_with_braces_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        RedisBackend(Redis(), key_prefix="app{x}")


async def test_touching_an_expired_session_cleans_every_index(
    counted: SessionManager, redis_client: Redis, clock: FakeClock
) -> None:
    backend = counted.backend
    assert isinstance(backend, RedisBackend)
    sessions = [await counted.create(user_id="alice") for _ in range(3)]
    clock.advance(counted.settings.session_ttl + 1)

    assert await counted.get(sessions[0].token) is None
    with pytest.raises(SessionNotFound):
        await counted.rotate(sessions[1].token)
    assert await counted.delete(sessions[2].token) is False

    bucket = sessions[0].id[:2]
    assert await redis_client.zcard(backend.keys.index(bucket)) == 0
    assert await redis_client.zcard(backend.keys.user("alice")) == 0
    assert await redis_client.exists(*(backend.keys.session(s.id) for s in sessions)) == 0


# -- conversations -------------------------------------------------------------------------------------------------


async def test_conversation_operations_are_one_round_trip_each(counted: SessionManager) -> None:
    session = await counted.create_demo_session(industry="hotel")
    assert session.token is not None
    assert await round_trips(counted.add_message(session.token, "user", "hello")) == 1
    assert await round_trips(counted.get_messages(session.token, limit=5)) == 1
    assert await round_trips(counted.demo_status(session.token)) == 1
    before = CountingConnection.sent
    with pytest.raises(SessionNotFound):
        await counted.add_message("malformed", "user", "hello")
    assert CountingConnection.sent == before


async def test_messages_live_next_to_the_session_and_share_its_ttl(
    redis_server: RedisServer, redis_client: Redis, key_prefix: str
) -> None:
    backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix)
    settings = Settings(key_prefix=key_prefix, session_ttl=20, demo_ttl=2, absolute_ttl=30)
    async with SessionManager(backend, settings) as manager:
        session = await manager.create_demo_session(industry="hotel", user_id="amira")
        assert session.token is not None
        await manager.add_message(session.token, "user", "hello")
        messages_key = backend.keys.messages(session.id)
        assert messages_key == f"{key_prefix}:{{{bucket_for_user('amira')}}}:c:{session.id[2:]}"
        assert await redis_client.lrange(messages_key, 0, -1) != []
        assert 1500 < await redis_client.pttl(messages_key) <= 2000

        rotated = await manager.rotate(session.token)
        assert not await redis_client.exists(messages_key)
        rotated_key = backend.keys.messages(rotated.id)
        assert 1500 < await redis_client.pttl(rotated_key) <= 2000
        assert 1500 < await redis_client.pttl(backend.keys.session(rotated.id)) <= 2000

        signed_in = await manager.login(rotated.token, "amira")
        assert not await redis_client.exists(rotated_key)
        # The login makes a session with the user's idle timeout: the carried messages get the same TTL.
        new_key = backend.keys.messages(signed_in.id)
        assert 19_000 < await redis_client.pttl(new_key) <= 20_000
        assert abs(await redis_client.pttl(new_key) - await redis_client.pttl(backend.keys.session(signed_in.id))) < 50
        assert signed_in.token is not None
        assert await redis_client.lrange(new_key, 0, -1) != []
        assert signed_in.token.encode() not in b"".join(cast(list[bytes], await redis_client.lrange(new_key, 0, -1)))


async def test_messages_expire_with_their_session(
    redis_server: RedisServer, redis_client: Redis, key_prefix: str
) -> None:
    backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix)
    async with SessionManager(backend, Settings(key_prefix=key_prefix, demo_ttl=1)) as manager:
        session = await manager.create_demo_session(industry="hotel")
        assert session.token is not None
        await manager.add_message(session.token, "user", "hello")
        keys = [backend.keys.session(session.id), backend.keys.messages(session.id)]
        assert await redis_client.exists(*keys) == 2
        await asyncio.sleep(1.1)  # a real 1 s TTL is what this test is about
        assert await redis_client.exists(*keys) == 0


# -- security monitoring: what it costs in round trips, and the keys it leaves ---------------------------------------


async def test_security_monitoring_adds_no_round_trip_to_a_read(counted: SessionManager) -> None:
    manager = counted
    laptop = ClientInfo(ip="198.51.100.20", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    session = await manager.create(user_id="alice", client=laptop)
    assert await round_trips(manager.get(session.token, client=laptop)) == 1
    same_network = ClientInfo(ip="198.51.100.21", user_agent=laptop.user_agent)
    assert await round_trips(manager.get(session.token, client=same_network)) == 1  # low: below the threshold
    assert await round_trips(manager.get("malformed", client=laptop)) == 0
    # Rare cases pay one more: a rotated-away token (the load says so) is reported, a newly flagged client is
    # recorded once (the same client again costs nothing), and an unknown token is counted for every process.
    other_device = ClientInfo(ip=laptop.ip, user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 Safari/537.36")
    assert await round_trips(manager.get(session.token, client=other_device)) == 2
    assert await round_trips(manager.get(session.token, client=other_device)) == 1
    unknown = session.token[:2] + ("A" if session.token[2] != "A" else "B") + session.token[3:]  # type: ignore[index]
    assert await round_trips(manager.get(unknown, client=laptop)) == 3, "the miss, the rotation marker, the count"
    assert await round_trips(manager.get(unknown)) == 2  # no client address: nothing to count
    rotated = await manager.rotate(session.token)
    # Within the grace period a rotated-away token is a request in flight (the miss, the marker, the reuse check),
    # then counted as unknown.
    assert await round_trips(manager.get(session.token, client=laptop)) == 4
    assert await round_trips(manager.get(rotated.token, client=laptop)) == 1
    assert await round_trips(manager.security_events("alice")) == 1


async def test_security_log_and_rotation_marker_keys(
    redis_server: RedisServer, redis_client: Redis, key_prefix: str, clock: FakeClock
) -> None:
    backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix)
    settings = Settings(key_prefix=key_prefix, security_log_max_events=3, security_log_ttl=50, absolute_ttl=100)
    async with SessionManager(backend, settings, clock=clock) as manager:
        for _ in range(300):
            await manager.create(user_id="alice")
        log_key = backend.keys.events("alice")
        # Trimming is approximate in Redis (whole stream nodes), reading exact.
        assert 3 <= await redis_client.xlen(log_key) < 300
        assert len(await manager.security_events("alice")) == 3
        assert 49_000 < await redis_client.pttl(log_key) <= 50_000

        session = await manager.create()
        clock.advance(10)
        await manager.rotate(session.token)
        marker = backend.keys.rotated_from(session.id)
        assert 89_000 < await redis_client.pttl(marker) <= 90_000  # until the session's absolute deadline


# -- the touch interval: a read within it is one HGETALL inside the script, and writes nothing ------------------------


async def commands_run(redis_client: Redis, call: Any) -> dict[str, int]:
    """Commands the server ran during `call`, scripts' own included (INFO commandstats deltas), INFO left out."""

    def calls(stats: dict[str, Any]) -> dict[str, int]:
        return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}

    before = calls(await redis_client.info("commandstats"))
    await call
    after = calls(await redis_client.info("commandstats"))
    ran = {name: count - before.get(name, 0) for name, count in after.items() if name != "info"}
    return {name: count for name, count in ran.items() if count}


async def test_a_read_within_the_touch_interval_runs_no_write_command(
    counted: SessionManager, redis_client: Redis, clock: FakeClock
) -> None:
    session = await counted.create(user_id="alice", data={"cart": [1]})
    assert counted.settings.touch_interval == 60
    clock.advance(59)
    assert await commands_run(redis_client, counted.get(session.token)) == {"hgetall": 1}

    clock.advance(1)  # due: a script slides the deadline, as every read did before the interval
    ran = await commands_run(redis_client, counted.get(session.token))
    assert ran == {"evalsha": 1, "hgetall": 2, "hset": 1, "pexpire": 2, "zadd": 1}


async def test_a_miss_then_probes_the_rotation_marker(counted: SessionManager, redis_client: Redis) -> None:
    session = await counted.create()
    assert session.token is not None
    unknown = session.token[:2] + ("A" if session.token[2] != "A" else "B") + session.token[3:]
    assert await commands_run(redis_client, counted.get(unknown)) == {"hgetall": 1, "exists": 1}


async def _snapshot(client: Redis, prefix: str) -> dict[str, object]:
    """Every key under `prefix` (named without it) with its content, but the replies kept for a resend."""
    found: dict[str, object] = {}
    async for raw in client.scan_iter(match=f"{prefix}:*"):
        key = raw.decode()
        if ":op:" in key:
            continue
        kind = cast(bytes, await client.type(key)).decode()
        content: object
        if kind == "hash":
            content = await client.hgetall(key)
        elif kind == "zset":
            content = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            content = await client.lrange(key, 0, -1)
        elif kind == "stream":
            entries = cast(list[tuple[bytes, dict[bytes, bytes]]], await client.xrange(key))
            content = [fields for _, fields in entries]
        else:
            content = await client.get(key)
        found[key.removeprefix(prefix)] = content
    return found


async def test_every_script_without_once_may_run_twice(redis_server: RedisServer, redis_client: Redis) -> None:
    """What a resend relies on for the writes not marked ONCE (update, restore, import): run twice, they leave
    Redis exactly as run once."""
    source, once, twice = (
        RedisBackend.from_url(redis_server.url, key_prefix=f"idem{n}", client_cache=0) for n in range(3)
    )
    async with SessionManager(source, Settings(key_prefix="idem0")) as manager:
        template = await manager.create(user_id="ada", data={"a": 1})
        now = int(time.time() * 1000)
        record = await source.peek(template.id, now)
    assert record is not None
    alias_id = legacy_alias_id("legacy-session-token-0123456789")
    assert alias_id is not None
    legacy = ImportedSession(replace(record, id=migrated_session_id(alias_id, "ada")), alias_id=alias_id)
    calls: list[Callable[[RedisBackend], Awaitable[object]]] = [
        lambda backend: backend.restore(record, now, data_changed=True, replaces=None, if_replaced_exists=False),
        lambda backend: backend.update(record.id, DataChanges(updated={"b": b"2"}, removed=("a",)), now + 1),
        lambda backend: backend.import_sessions([legacy], now + 2),
    ]
    async with once, twice:
        for call in calls:
            await call(once)
            await call(twice)
            await call(twice)
        assert await _snapshot(redis_client, "idem1") == await _snapshot(redis_client, "idem2")


async def test_a_signed_in_session_stored_before_authentication_times_reads_as_signed_in_at_creation(
    counted: SessionManager, clock: FakeClock
) -> None:
    session = await counted.login(None, "amira")
    backend = counted.backend
    assert isinstance(backend, RedisBackend)
    await cast(Any, backend.client).hdel(backend.keys.session(session.id), "au")  # as an earlier version wrote it
    clock.advance(5)
    loaded = await counted.get(session.token)
    assert loaded is not None
    assert loaded.authenticated_at == session.created_at
    visitor = await counted.create()
    assert (await counted.peek(visitor.id)).authenticated_at is None  # type: ignore[union-attr]
