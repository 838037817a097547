"""The deployments every contract test runs on, and backends on each of them by key prefix."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sessionhub.backends import MemoryBackend, RedisBackend, ResilientBackend, SessionBackend
from tests.support.redis_servers import RedisCluster, RedisSentinelGroup

BACKENDS = ["memory", "redis", "resilient", "cluster", "sentinel"]
CALL_TIMEOUT = 2.0


def cluster_url(cluster: RedisCluster) -> str:
    return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in cluster.startup_nodes)


def sentinel_url(group: RedisSentinelGroup) -> str:
    hosts = ",".join(f"{host}:{port}" for host, port in group.sentinel_addresses)
    return f"redis+sentinel://{hosts}/{group.service_name}"


def backend_factory(request: pytest.FixtureRequest, backend_name: str) -> Callable[[str], SessionBackend]:
    """Backends of one kind by key prefix, starting the deployment the name stands for on first use: memory, Redis,
    Redis behind ResilientBackend, Redis Cluster, or a Sentinel-managed primary."""
    if backend_name == "memory":
        return lambda prefix: MemoryBackend()
    if backend_name in ("redis", "resilient"):
        url = request.getfixturevalue("redis_server").url
    elif backend_name == "cluster":
        url = cluster_url(request.getfixturevalue("redis_cluster"))
    else:
        url = sentinel_url(request.getfixturevalue("redis_sentinels"))
    if backend_name == "resilient":
        # The contract on a healthy Redis: a per-call timeout that a loaded 2-core CI machine cannot hit by accident
        # (the default 250 ms was, once, and the call went to memory). Outages have tests of their own.
        return lambda prefix: ResilientBackend(RedisBackend.from_url(url, key_prefix=prefix), call_timeout=CALL_TIMEOUT)
    return lambda prefix: RedisBackend.from_url(url, key_prefix=prefix)
