"""The one place that turns `Settings` into a store stack: `SessionManager.from_settings`, the CLI and the demo all
build theirs here, so that they agree on every setting (deployment, client cache, timeouts, breaker).

    memory                                 testing, or no redis_url
    RedisBackend                           redis_url, outage fallback off (the CLI; `redis_fallback=false`)
    ResilientBackend(RedisBackend, memory) redis_url with the outage fallback on (the default)

The Redis URL's scheme picks one server, a Sentinel group or a Cluster (`RedisBackend.from_url`); the client cache
applies where the backend supports it (one server).
"""

from __future__ import annotations

from sessionhub.backends.base import SessionBackend
from sessionhub.backends.memory import MemoryBackend
from sessionhub.legacy import LegacyFallback
from sessionhub.settings import Settings

QUEUE_WAIT = 2.0
"""Seconds a Redis call may wait in line for a connection, on top of redis_call_timeout, before memory serves it: a
burst of callers on one process takes its time. A stuck Redis is given up on sooner: a caller waits only while
Redis keeps answering (`RedisBackend.connection_wait`, redis_call_timeout here)."""


def build_backend(settings: Settings, *, outage_fallback: bool | None = None) -> SessionBackend:
    """The store stack for `settings`, not yet opened. `outage_fallback` (default: `settings.redis_fallback`) puts
    Redis behind `ResilientBackend`, which serves from memory through outages; an admin tool turns it off, so that
    it never reports on an empty memory store because Redis was down."""
    if settings.uses_memory or settings.redis_url is None:
        return MemoryBackend()
    from sessionhub.backends.redis import RedisBackend

    with_fallback = settings.redis_fallback if outage_fallback is None else outage_fallback
    # Behind the resilient layer the sockets give up as soon as its per-call timeout does.
    timeouts: dict[str, float] = (
        {"socket_timeout": settings.redis_call_timeout, "socket_connect_timeout": settings.redis_call_timeout}
        if with_fallback
        else {}
    )
    redis = RedisBackend.from_url(
        settings.redis_url,
        key_prefix=settings.key_prefix,
        cluster=settings.redis_cluster,
        client_cache=settings.redis_client_cache,
        max_connections=settings.redis_max_connections,
        **timeouts,
    )
    if not with_fallback:
        return redis
    from sessionhub.backends.resilient import ResilientBackend
    from sessionhub.backends.resilient.breaker import CircuitBreaker

    breaker = CircuitBreaker(
        threshold=settings.breaker_threshold,
        first_backoff=min(0.1, settings.breaker_max_backoff),
        max_backoff=settings.breaker_max_backoff,
        failover_window=settings.breaker_failover_window,
    )
    return ResilientBackend(
        redis,
        call_timeout=settings.redis_call_timeout,
        connection_wait=QUEUE_WAIT,
        breaker=breaker,
        near_cache_size=settings.near_cache_size,
        start_without_primary=settings.redis_start_in_memory,
    )


def build_legacy_fallback(settings: Settings) -> LegacyFallback | None:
    """The legacy stores `legacy_stores` names, read through by `adopt_legacy` (sessionhub.migrate.read_through);
    None when it names none."""
    if not settings.legacy_stores:
        return None
    from sessionhub.migrate.read_through import LegacyReadThrough

    return LegacyReadThrough.from_specs(settings.legacy_stores)
