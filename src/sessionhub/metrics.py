"""Prometheus metrics for a SessionManager (the `metrics` extra: `pip install "sessionhub[metrics]"`).

    metrics = SessionMetrics(manager)          # subscribes to the manager's observers
    app.mount("/metrics", metrics.asgi_app())  # or serve metrics.registry your own way

Counters and latency histograms are fed by the manager as operations happen. The gauges (active sessions, whether
the store is up, whether a ResilientBackend is serving from its fallback) are read from `stats()` and `health()`
when scraped, at most once per `cache_seconds`, so a busy scraper cannot load the store. Labels are a session kind,
a reason, a level, an operation or a backend name: never a token, a session id or a user id.

Nothing here is imported by sessionhub itself: without this module a manager has no observers and pays nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sessionhub import observers
from sessionhub.errors import SessionHubError
from sessionhub.manager import SessionManager

STORE_COUNTERS = {
    "connection_waits": ("redis_connection_waits", "Redis calls that had to wait for a free connection."),
    "connection_wait_seconds": ("redis_connection_wait_seconds", "Time Redis calls spent waiting for a connection."),
    "connection_waits_given_up": (
        "redis_connection_waits_given_up",
        "Redis calls that found no free connection in time (BackendUnavailable).",
    ),
    "resent_calls": ("redis_resent_calls", "Redis calls sent again after their connection broke."),
    "journal_quarantined": (
        "journal_quarantined",
        "Outage journal entries the store refused on replay, set aside (logged with their session id).",
    ),
}
"""Counters of the store's own (`stats()`), exported as `<namespace>_<name>_total` when the store has them."""

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds: a Redis round trip on loopback is ~0.1 ms, a store in trouble takes up to the socket timeout."""


class SessionMetrics:
    def __init__(
        self,
        manager: SessionManager,
        *,
        registry: CollectorRegistry | None = None,
        namespace: str = "sessionhub",
        cache_seconds: float = 5.0,
    ) -> None:
        """Register the metrics in `registry` (a new one when None; pass prometheus_client.REGISTRY to publish
        them with the application's own) and subscribe to `manager`."""
        self.manager = manager
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.cache_seconds = cache_seconds
        self._state = _StoreState(namespace)
        self._refreshed_at: float | None = None

        def counter(name: str, documentation: str, label: str) -> Counter:
            return Counter(name, documentation, [label], namespace=namespace, registry=self.registry)

        self._counters: dict[str, Counter] = {
            observers.CREATED: counter("sessions_created", "Sessions created (create and login).", "kind"),
            observers.ROTATED: counter("sessions_rotated", "Sessions moved to a new token.", "kind"),
            observers.REVOKED: counter("sessions_revoked", "Live sessions ended before their time.", "reason"),
            observers.EVICTED: counter("sessions_evicted", "Sessions signed out by the per-user limit.", "reason"),
            observers.LIMIT_REFUSED: counter(
                "session_limit_refusals", "New sessions refused by the per-user limit.", "policy"
            ),
            observers.TOKEN_REJECTED: counter("invalid_tokens", "Presented tokens that were no session.", "reason"),
            observers.TOKEN_ABUSE: counter(
                "token_abuse",
                "Client addresses over the unknown-token threshold (burst) or refused (throttled).",
                "action",
            ),
            observers.TOKEN_REUSED: counter(
                "token_reuse", "Rotated-away tokens presented again (possible theft), by policy applied.", "policy"
            ),
            observers.RISK_FLAGGED: counter("risk_flags", "Requests flagged by the risk rules, by level.", "level"),
        }
        self._latency = Histogram(
            "operation_seconds",
            "Time spent in the session store per manager operation.",
            ["operation", "backend"],
            namespace=namespace,
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self._latency_of: dict[tuple[str, str], Histogram] = {}
        self.registry.register(self._state)
        manager.observers.append(self)

    # -- the observer -------------------------------------------------------------------------------------------

    def operation_finished(self, operation: str, backend: str, seconds: float) -> None:
        histogram = self._latency_of.get((operation, backend))
        if histogram is None:  # label lookups cost more than the observation: keep each child once
            histogram = self._latency_of[(operation, backend)] = self._latency.labels(operation, backend)
        histogram.observe(seconds)

    def session_event(self, event: str, label: str, count: int) -> None:
        counter = self._counters.get(event)
        if counter is not None:
            counter.labels(label).inc(count)

    # -- scraping -----------------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the gauges from the store unless they were read within `cache_seconds`."""
        now = time.monotonic()
        if self._refreshed_at is not None and now - self._refreshed_at < self.cache_seconds:
            return
        self._refreshed_at = now
        health = await self.manager.health()
        self._state.up = 1.0 if health.get("status") == "ok" else 0.0
        self._state.fallback_active = 1.0 if health.get("fallback_active") else 0.0
        try:
            stats = await self.manager.stats()
        except SessionHubError:
            self._state.up = 0.0  # keep the last count: a gap in the graph says less than a false zero
            return
        self._state.active_sessions = float(stats["active_sessions"])
        self._state.store_counters = {name: float(stats[name]) for name in STORE_COUNTERS if name in stats}

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)

    def asgi_app(self) -> MetricsApp:
        return MetricsApp(self)


class _StoreState(Collector):
    """The gauges, as last read by `SessionMetrics.refresh`."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.active_sessions: float | None = None
        self.up = 0.0
        self.fallback_active = 0.0
        self.store_counters: dict[str, float] = {}

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            f"{self.namespace}_store_up", "1 when the session store answered the last health check.", value=self.up
        )
        yield GaugeMetricFamily(
            f"{self.namespace}_fallback_active",
            "1 while a ResilientBackend serves sessions from its in-memory fallback.",
            value=self.fallback_active,
        )
        if self.active_sessions is not None:
            yield GaugeMetricFamily(
                f"{self.namespace}_active_sessions", "Live sessions in the store.", value=self.active_sessions
            )
        for stat, value in self.store_counters.items():
            name, documentation = STORE_COUNTERS[stat]
            yield CounterMetricFamily(f"{self.namespace}_{name}", documentation, value=value)


# The ASGI interface, spelled as Starlette does (metrics do not need Starlette installed).
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class MetricsApp:
    """A pure ASGI app serving the metrics in the Prometheus text format (GET or HEAD, any path)."""

    def __init__(self, metrics: SessionMetrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", b"text/plain; charset=utf-8", [(b"allow", b"GET, HEAD")])
            return
        body = await self.metrics.render()
        await _respond(send, 200, b"" if scope["method"] == "HEAD" else body, CONTENT_TYPE_LATEST.encode(), [])


async def _respond(send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", content_type), (b"cache-control", b"no-store"), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
