"""The harness itself: every other Redis test trusts these processes to behave as documented."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as ClusterClient
from redis.exceptions import MovedError

from . import redis_servers
from .redis_servers import (
    HOST,
    RedisCluster,
    RedisHarnessError,
    RedisSentinelGroup,
    RedisServer,
    free_port,
)

pytestmark = pytest.mark.redis


def _accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _wait_refusing(port: int, timeout: float = 5.0) -> bool:
    """True once nothing listens on `port` any more (process teardown is asynchronous)."""
    deadline = time.monotonic() + timeout
    while _accepts_connections(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_free_port_hands_out_distinct_bindable_ports() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    for port in ports[:3]:
        with socket.socket() as sock:
            sock.bind((HOST, port))


def test_start_serves_on_loopback_and_stop_cleans_up() -> None:
    with RedisServer.start() as server:
        assert server.host == "127.0.0.1"
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.is_running()
        directory = server.directory
        with server.client() as client:
            assert client.ping()
            client.set("key", "value")
            assert client.get("key") == b"value"  # bytes: decode_responses=False
            config = client.config_get("*")
        assert config["bind"] == "127.0.0.1"
        assert config["save"] == ""
        assert config["appendonly"] == "no"
        assert config["protected-mode"] == "no"
        assert Path(config["dir"]) == directory
        assert (directory / "redis.log").stat().st_size > 0

    assert not server.is_running()
    assert not directory.exists()
    assert _wait_refusing(server.port)
    server.stop()  # idempotent


def test_url_works_with_redis_from_url() -> None:
    with RedisServer.start() as server, redis.Redis.from_url(server.url) as client:
        assert client.ping()


def test_kill_then_restart_reuses_port_with_empty_dataset() -> None:
    with RedisServer.start() as server:
        port, old_pid = server.port, server.pid
        with server.client() as client:
            client.set("survives", "no")
        server.kill()
        assert not server.is_running()
        assert _wait_refusing(port)

        server.restart()
        assert server.port == port
        assert server.pid != old_pid
        with server.client() as client:
            assert client.dbsize() == 0


def test_restart_of_running_server_is_refused() -> None:
    with RedisServer.start() as server, pytest.raises(RedisHarnessError, match="is running"):
        server.restart()


def test_persistence_keeps_data_across_kill_and_graceful_shutdown() -> None:
    with RedisServer.start(persistence=True) as server:
        with server.client() as client:
            client.set("session", "alive")
        server.kill()  # appendfsync always: acknowledged writes are on disk before the reply
        server.restart()
        with server.client() as client:
            assert client.get("session") == b"alive"
            client.set("second", "write")
        server.shutdown()
        server.restart()
        with server.client() as client:
            assert client.mget("session", "second") == [b"alive", b"write"]


def test_restart_after_stop_starts_empty_on_same_port() -> None:
    server = RedisServer.start(persistence=True)
    try:
        with server.client() as client:
            client.set("gone", "after stop")
        port = server.port
        server.stop()
        server.restart()
        assert server.port == port
        with server.client() as client:
            assert client.dbsize() == 0
    finally:
        server.stop()


def test_pause_hangs_clients_and_resume_answers_again() -> None:
    with RedisServer.start() as server:
        server.pause()
        assert server.is_paused()
        with server.client(socket_timeout=0.2) as client:
            with pytest.raises(redis.TimeoutError):
                client.ping()
            server.resume()
            assert not server.is_paused()
            assert client.ping()


def test_stop_of_paused_server_does_not_hang() -> None:
    server = RedisServer.start()
    server.pause()
    server.stop()
    assert not server.is_running()


def test_replica_of_replicates_writes() -> None:
    with RedisServer.start() as primary, RedisServer.start(replica_of=primary) as replica:
        with primary.client() as client:
            client.set("k", "v")
            assert client.wait(1, 2000) == 1
        with replica.client() as client:
            assert client.get("k") == b"v"
            with pytest.raises(redis.ReadOnlyError):
                client.set("k", "other")


def test_extra_args_reach_the_server() -> None:
    with RedisServer.start(extra_args=["--maxmemory", "10mb"]) as server, server.client() as client:
        assert client.config_get("maxmemory")["maxmemory"] == str(10 * 1024 * 1024)


def test_busy_explicit_port_fails_with_log_tail() -> None:
    with socket.socket() as blocker:
        blocker.bind((HOST, 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        with pytest.raises(RedisHarnessError, match="Address already in use"):
            RedisServer.start(port=busy)


def test_lost_port_race_is_retried_on_a_new_port(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as blocker:
        blocker.bind((HOST, 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        handed_out = iter([busy])
        real_free_port = redis_servers.free_port
        # The first pick loses the race (someone else bound it), later picks are genuine.
        monkeypatch.setattr(redis_servers, "free_port", lambda: next(handed_out, None) or real_free_port())
        with RedisServer.start() as server:
            assert server.port != busy
            with server.client() as client:
                assert client.ping()


def test_missing_binary_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisHarnessError, match="Debian package 'redis-server'"):
        RedisServer.start()
    with pytest.raises(RedisHarnessError, match="Debian package 'redis-tools'"):
        redis_servers._binary("redis-cli", "redis-tools")


@pytest.mark.parametrize("ending", ["exit", "sigkill"])
def test_no_server_outlives_the_process_that_started_it(ending: str) -> None:
    """atexit covers a normal exit without teardown; the parent-death signal covers SIGKILL."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import redis_servers
        server = redis_servers.RedisServer.start()
        print(server.port, server.directory, flush=True)
        if {ending!r} == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.exit(0)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(redis_servers.__file__).parent)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    port, directory = result.stdout.split()
    # Nothing runs in a SIGKILLed parent, so its temp dir is left for us to remove.
    shutil.rmtree(directory, ignore_errors=True)
    assert _wait_refusing(int(port)), f"redis-server on port {port} survived its parent ({ending})"


def test_cluster_spreads_hash_tags_over_masters_and_serves_a_cluster_client() -> None:
    with RedisCluster.start() as cluster:
        assert len(cluster.nodes) == 3
        assert cluster.url == f"redis://127.0.0.1:{cluster.nodes[0].port}"
        assert cluster.startup_nodes == [("127.0.0.1", node.port) for node in cluster.nodes]

        owners = {f"{{user:{n}}}:session": cluster.node_for_key(f"{{user:{n}}}:session") for n in range(30)}
        assert len({node.port for node in owners.values()}) == 3  # every master owns some of them
        first_key = next(iter(owners))
        second_key = next(key for key, node in owners.items() if node is not owners[first_key])

        client = ClusterClient(startup_nodes=[ClusterNode(host, port) for host, port in cluster.startup_nodes])
        try:
            client.set(first_key, "one")
            client.set(second_key, "two")
            assert client.get(first_key) == b"one"
            assert client.get(second_key) == b"two"
        finally:
            client.close()

        # Each key lives on the node the cluster named, and only there.
        with owners[first_key].client() as owner, owners[second_key].client() as other:
            assert owner.get(first_key) == b"one"
            assert other.get(second_key) == b"two"
            with pytest.raises(MovedError, match=f"{HOST}:{owners[first_key].port}"):
                other.get(first_key)

        from_url = ClusterClient.from_url(cluster.url)
        try:
            assert from_url.get(first_key) == b"one"
        finally:
            from_url.close()


def test_cluster_with_replicas_gives_each_master_a_replica() -> None:
    with RedisCluster.start(masters=3, replicas=1) as cluster:
        assert len(cluster.nodes) == 6
        roles = []
        for node in cluster.nodes:
            with node.client() as client:
                roles.append(client.info("replication")["role"])
        assert roles == ["master"] * 3 + ["slave"] * 3


def test_cluster_needs_three_masters() -> None:
    with pytest.raises(ValueError, match="at least 3 masters"):
        RedisCluster.start(masters=2)


def test_sentinel_failover_promotes_the_replica_with_its_data() -> None:
    with RedisSentinelGroup.start() as group:
        assert group.service_name == "sessionhub"
        assert len(group.sentinels) == 3
        assert group.sentinel_addresses == [("127.0.0.1", s.port) for s in group.sentinels]
        old = group.current_primary()
        assert old == group.primary.address

        with group.primary.client() as client:
            client.set("session", "kept")
            assert client.wait(1, 2000) == 1

        new = group.failover()
        assert new != old
        assert new == group.replica.address
        assert group.current_primary() == new

        with group.server_at(new).client() as client:
            assert client.get("session") == b"kept"
            assert client.set("after", "failover")


def test_sentinels_elect_a_new_primary_when_the_primary_dies() -> None:
    with RedisSentinelGroup.start(service_name="fault") as group:
        old = group.current_primary()
        group.primary.kill()
        new = group.wait_for_primary(not_at=old)
        assert new == group.replica.address
        with group.server_at(new).client() as client:
            assert client.set("written", "after election")

        # A killed sentinel comes back on its port with the view it had persisted in its config.
        sentinel = group.sentinels[0]
        sentinel.kill()
        sentinel.restart()
        with sentinel.client() as client:
            host, port = client.sentinel_get_master_addr_by_name("fault")
        assert (host.decode(), int(port)) == new
