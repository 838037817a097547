"""The Redis backend on every deployment: one server, a Sentinel-managed primary and a three-master Cluster.

The contract suite already runs on all three (BACKENDS in conftest); this file shows what is specific to them: the
URL schemes, that no operation scans the keyspace, that stats reads only the bucket indexes, and that Redis itself
checks the slot of every key a script touches.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import pytest
import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.crc import key_slot

from sessionhub import BackendUnavailable, ConfigurationError, SessionManager, Settings
from sessionhub.backends import RedisBackend, ResilientBackend
from sessionhub.backends.redis.connect import connect
from sessionhub.tokens import BUCKETS, bucket_for_user
from tests.support.clock import FakeClock
from tests.support.deployments import cluster_url, sentinel_url
from tests.support.redis_servers import RedisCluster, RedisSentinelGroup, RedisServer

DEPLOYMENTS = ["redis", "cluster", "sentinel"]
SCANS = {"scan", "keys", "hscan", "sscan", "zscan", "randomkey"}
CONNECTION_COMMANDS = {"HELLO", "PING", "CLIENT", "AUTH", "SELECT", "READONLY"}


@dataclass
class Deployment:
    url: str
    nodes: list[RedisServer]
    """The data servers whose counters and command streams the tests inspect (primaries and replicas)."""


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest) -> Deployment:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return Deployment(server.url, [server])
    if request.param == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return Deployment(cluster_url(cluster), cluster.nodes)
    group: RedisSentinelGroup = request.getfixturevalue("redis_sentinels")
    return Deployment(sentinel_url(group), [group.primary, group.replica])


@pytest.fixture
async def deployed(deployment: Deployment, key_prefix: str, clock: FakeClock) -> AsyncIterator[SessionManager]:
    backend = RedisBackend.from_url(deployment.url, key_prefix=key_prefix)
    settings = Settings(key_prefix=key_prefix, max_sessions_per_user=3, session_ttl=600, absolute_ttl=3600)
    async with SessionManager(backend, settings, clock=clock) as manager:
        yield manager


def command_calls(nodes: list[RedisServer]) -> Counter[str]:
    """Calls per command summed over the nodes since their last CONFIG RESETSTAT (commands run by scripts included)."""
    calls: Counter[str] = Counter()
    for node in nodes:
        with node.client() as client:
            for name, stats in client.info("commandstats").items():
                calls[name.removeprefix("cmdstat_")] += int(stats["calls"])
    return calls


def role(node: RedisServer) -> str:
    with node.client() as client:
        return str(client.info("replication")["role"])


def reset_stats(nodes: list[RedisServer]) -> None:
    for node in nodes:
        with node.client() as client:
            client.config_resetstat()


async def test_users_limits_and_stats_never_scan_the_keyspace(
    deployed: SessionManager, deployment: Deployment, clock: FakeClock
) -> None:
    manager = deployed
    reset_stats(deployment.nodes)

    for user in ["alice", "bob", "carol"]:
        for _ in range(5):  # over the limit of 3: the oldest are evicted
            await manager.create(user_id=user, data={"n": 1})
    anonymous = await manager.create(data={"cart": [1]})
    await manager.login(anonymous.token, "alice")
    assert len(await manager.list_user_sessions("alice")) == 3
    clock.advance(601)  # everything idles out: listing and stats must prune without a scan
    assert await manager.list_user_sessions("bob") == []
    assert await manager.revoke_user_sessions("carol") == 0
    assert (await manager.stats())["active_sessions"] == 0

    calls = command_calls(deployment.nodes)
    assert calls["evalsha"] > 0, "the workload did not reach the inspected nodes"
    assert not SCANS & set(calls), calls


async def test_stats_touches_only_the_bucket_indexes(
    deployed: SessionManager, deployment: Deployment, key_prefix: str
) -> None:
    for user in ["alice", "bob"]:
        await deployed.create(user_id=user)
    await deployed.create()
    primaries = [node for node in deployment.nodes if role(node) == "master"]

    seen = await commands_during(primaries, deployed.stats())

    indexes = {f"{key_prefix}:{{{bucket:02x}}}:all" for bucket in range(BUCKETS)}
    assert Counter(name for name, _ in seen) == {"ZREMRANGEBYSCORE": BUCKETS, "ZCARD": BUCKETS}
    assert {key for _, key in seen} == indexes


async def commands_during(nodes: list[RedisServer], operation: Awaitable[object]) -> list[tuple[str, str]]:
    """(command, first argument) of every data command the nodes ran while `operation` was awaited (MONITOR)."""
    marker = f"end-{uuid.uuid4().hex}"
    monitors = []
    for node in nodes:
        client = node.client()
        monitor = client.monitor()
        monitor.__enter__()
        monitors.append((client, monitor))
    try:
        await operation
        seen = []
        for node, (_, monitor) in zip(nodes, monitors, strict=True):
            with node.client() as other:
                other.echo(marker)
            while (command := monitor.next_command()["command"]) != f"ECHO {marker}":
                name, _, key = command.partition(" ")
                if name not in CONNECTION_COMMANDS:
                    seen.append((name, key.partition(" ")[0]))
        return seen
    finally:
        for client, monitor in monitors:
            monitor.__exit__(None, None, None)
            client.close()


def test_every_script_declares_flags_so_redis_checks_the_slots() -> None:
    backend = RedisBackend(Redis(), key_prefix="p")
    assert all(str(registered.script).startswith("#!lua") for _, registered in backend._scripts.values())


async def test_redis_refuses_a_script_reaching_another_slot(redis_cluster: RedisCluster) -> None:
    """What the bucket invariant relies on: a `#!lua` script may reach undeclared keys of its own slot only."""
    client = ClusterClient.from_url(redis_cluster.url)
    try:
        script = client.register_script("#!lua\nreturn redis.call('EXISTS', ARGV[1])")
        assert await script(keys=["p:{00}:s:x"], args=["p:{00}:all"]) == 0
        with pytest.raises(redis.ResponseError, match=r"slot|non local"):
            await script(keys=["p:{00}:s:x"], args=["p:{01}:all"])
    finally:
        await client.aclose()


async def test_every_key_of_a_user_shares_one_slot_and_has_a_ttl(
    redis_cluster: RedisCluster, key_prefix: str, clock: FakeClock
) -> None:
    backend = RedisBackend.from_url(cluster_url(redis_cluster), key_prefix=key_prefix)
    async with SessionManager(backend, Settings(key_prefix=key_prefix), clock=clock) as manager:
        anonymous = await manager.create(data={"cart": [1]})
        signed_in = await manager.login(anonymous.token, "alice")
        await manager.create(user_id="alice")
        tokens = [anonymous.token, signed_in.token]
    keys: dict[bytes, RedisServer] = {}
    for node in redis_cluster.nodes:
        with node.client() as client:
            keys.update(dict.fromkeys(client.scan_iter(match=f"{key_prefix}:*"), node))
    # The replies kept for a resend (a few seconds) are in the slot of each call, the anonymous create's too.
    keys = {key: node for key, node in keys.items() if b":op:" not in key}
    alice = f"{key_prefix}:{{{bucket_for_user('alice')}}}:".encode()
    assert {key for key in keys if key.startswith(alice)} == set(keys), "the anonymous session was not deleted"
    assert len({node.port for node in keys.values()}) == 1
    assert len({key_slot(key) for key in keys}) == 1
    for key, node in keys.items():
        with node.client() as client:
            assert client.pttl(key) > 0
            assert not any(token is not None and token.encode() in key for token in tokens)


async def test_a_primary_short_of_replicas_is_unavailable_not_an_error(key_prefix: str) -> None:
    """Under min-replicas-to-write a primary without its replica refuses writes: the caller sees BackendUnavailable
    (which it can ride out, like a failover), and nothing is written."""
    server = RedisServer.start(extra_args=["--min-replicas-to-write", "1"])
    try:
        async with SessionManager(RedisBackend.from_url(server.url, key_prefix=key_prefix)) as manager:
            with pytest.raises(BackendUnavailable, match="NOREPLICAS"):
                await manager.create(data={"x": 1})
        with server.client() as client:
            assert client.dbsize() == 0
    finally:
        server.stop()


# -- URLs and settings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fallback", [False, True], ids=["redis", "resilient"])
async def test_settings_turn_a_plain_url_into_a_cluster_client(
    redis_cluster: RedisCluster, key_prefix: str, fallback: bool
) -> None:
    settings = Settings(redis_url=redis_cluster.url, redis_cluster=True, redis_fallback=fallback, key_prefix=key_prefix)
    async with SessionManager.from_settings(settings) as manager:
        backend = manager.backend.primary if isinstance(manager.backend, ResilientBackend) else manager.backend
        assert isinstance(backend, RedisBackend)
        assert isinstance(backend.client, ClusterClient)
        session = await manager.create(user_id="alice")
        assert await manager.get(session.token) is not None


async def test_sentinel_url_follows_the_named_primary(redis_sentinels: RedisSentinelGroup, key_prefix: str) -> None:
    backend = RedisBackend.from_url(sentinel_url(redis_sentinels) + "/0?socket_timeout=1", key_prefix=key_prefix)
    async with SessionManager(backend, Settings(key_prefix=key_prefix)) as manager:
        session = await manager.create(data={"x": 1})
    primary = redis_sentinels.server_at(redis_sentinels.current_primary())
    with primary.client() as client:
        assert client.exists(f"{key_prefix}:{{{session.id[:2]}}}:s:{session.id[2:]}") == 1


def test_cluster_urls_name_every_startup_node() -> None:
    client = connect("rediss+cluster://user:secret@10.0.0.1:7000,[::1]:7001,node3/?socket_timeout=3")
    assert isinstance(client, ClusterClient)
    nodes = list(client.nodes_manager.startup_nodes.values())
    assert [(node.host, node.port) for node in nodes] == [("10.0.0.1", 7000), ("::1", 7001), ("node3", 6379)]
    kwargs = nodes[0].connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["socket_timeout"]) == ("user", "secret", 3.0)
    assert nodes[0].connection_class.__name__ == "SSLConnection"


def test_sentinel_urls_name_the_service_database_and_sentinel_credentials() -> None:
    client = connect("redis+sentinel://:data-secret@s1,s2:26380/orders/2?sentinel_password=watch-secret")
    assert isinstance(client, Redis)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "orders"
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (2, "data-secret")
    sentinels = pool.sentinel_manager.sentinels
    addresses = [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"]) for s in sentinels
    ]
    assert addresses == [("s1", 26379), ("s2", 26380)]
    assert all(s.connection_pool.connection_kwargs["password"] == "watch-secret" for s in sentinels)


def test_unix_and_plain_urls_stay_single_server_clients() -> None:
    assert isinstance(connect("unix:///run/redis.sock?db=3"), Redis)
    assert connect("redis://localhost:6380/4").connection_pool.connection_kwargs["db"] == 4  # type: ignore[union-attr]
    assert isinstance(connect("redis://localhost:7000", cluster=True), ClusterClient)


@pytest.mark.parametrize(
    ("url", "cluster", "problem"),
    [
        ("localhost:6379", False, "must look like"),
        ("http://:pw-secret@localhost", False, "unsupported redis URL scheme 'http'"),
        ("redis+proxy://:pw-secret@localhost", False, "unsupported"),
        ("redis+cluster://:pw-secret@localhost:7000/1", False, "only database 0"),
        ("redis+sentinel://:pw-secret@localhost:26379", False, "needs the service name"),
        ("redis+sentinel://:pw-secret@localhost/name/x", False, "must be a number"),
        ("redis+sentinel://:pw-secret@localhost/name", True, "cannot also be a cluster"),
        ("unix:///run/redis.sock", True, "unix socket"),
        ("redis+cluster://:pw-secret@localhost:port", False, "host:port"),
    ],
)
def test_bad_urls_are_refused_without_echoing_them(url: str, cluster: bool, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as raised:
        RedisBackend.from_url(url, cluster=cluster)
    assert "secret" not in str(raised.value)
