"""The operator page's charts: the demo's Prometheus metrics sampled every few seconds, kept for the last minutes,
drawn as inline SVG (no JavaScript, nothing fetched: the page's CSP allows neither).

The samples are read from the same registry that `/metrics` serves, so the charts show what Prometheus would
scrape: active sessions, HTTP requests, store operations and their mean latency, sign-ins, revocations, and
whether the store is up or the in-memory fallback is serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import escape

from prometheus_client import CollectorRegistry, Counter

from sessionhub.display import human_seconds
from sessionhub.errors import SessionHubError
from sessionhub.metrics import SessionMetrics

NAMESPACE = "sessionhub"

logger = logging.getLogger("sessionhub.demo")


@dataclass(frozen=True, slots=True)
class Sample:
    """The metrics at one moment: gauges as they were, counters as running totals."""

    at: float
    active_sessions: float | None
    store_up: float
    fallback_active: float
    requests: float
    operations: float
    operation_seconds: float
    sign_ins: float
    revocations: float


@dataclass(frozen=True, slots=True)
class Series:
    """One chart's points, (seconds before now, value), oldest first; None where nothing could be said."""

    title: str
    unit: str
    points: list[tuple[float, float | None]]
    steps: bool = False
    """A state (0 or 1) rather than a quantity: drawn as steps."""


def read_sample(registry: CollectorRegistry, now: float) -> Sample:
    totals: dict[str, float] = {}
    login_count = 0.0
    for family in registry.collect():
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
            if sample.name == f"{NAMESPACE}_operation_seconds_count" and sample.labels.get("operation") == "login":
                login_count += sample.value

    def total(name: str) -> float:
        return totals.get(f"{NAMESPACE}_{name}", 0.0)

    active = totals.get(f"{NAMESPACE}_active_sessions")
    return Sample(
        at=now,
        active_sessions=active,
        store_up=total("store_up"),
        fallback_active=total("fallback_active"),
        requests=total("demo_http_requests_total"),
        operations=total("operation_seconds_count"),
        operation_seconds=total("operation_seconds_sum"),
        sign_ins=login_count,
        revocations=total("sessions_revoked_total"),
    )


SAMPLES_KEPT = 60
"""Samples a chart shows: five minutes at the default five seconds apart."""


class MetricsHistory:
    """The last SAMPLES_KEPT samples, one every `every` seconds, taken while `running` (the app's lifespan)."""

    def __init__(self, metrics: SessionMetrics, *, every: float = 5.0) -> None:
        self.metrics = metrics
        self.every = every
        self.window = every * SAMPLES_KEPT
        self.samples: deque[Sample] = deque(maxlen=SAMPLES_KEPT + 1)
        self.requests = Counter(
            "demo_http_requests",
            "HTTP requests the demo answered, by status class (2xx, 3xx, 4xx, 5xx).",
            ["status"],
            namespace=NAMESPACE,
            registry=metrics.registry,
        )

    def count_request(self, status: int) -> None:
        self.requests.labels(f"{status // 100}xx").inc()

    async def take(self) -> None:
        await self.metrics.refresh()
        self.samples.append(read_sample(self.metrics.registry, time.monotonic()))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Sample until the block ends (the app's lifespan)."""
        task = asyncio.create_task(self._run(), name="operator-metrics")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.take()
            except SessionHubError as exc:  # a gap in the charts; the sampler keeps going
                logger.warning("operator chart sample failed: %s", exc)
            await asyncio.sleep(self.every)

    def series(self) -> list[Series]:
        samples = list(self.samples)
        if not samples:
            return []
        now = samples[-1].at
        pairs = list(itertools.pairwise(samples))

        def ago(sample: Sample) -> float:
            return sample.at - now

        def per_second(before: Sample, after: Sample, field: str) -> float:
            elapsed = after.at - before.at
            change = getattr(after, field) - getattr(before, field)
            return max(0.0, change) / elapsed if elapsed > 0 else 0.0

        def per_minute(before: Sample, after: Sample, field: str) -> float:
            return per_second(before, after, field) * 60

        def mean_ms(before: Sample, after: Sample) -> float | None:
            count = after.operations - before.operations
            return (after.operation_seconds - before.operation_seconds) / count * 1000 if count > 0 else None

        return [
            Series("Active sessions", "", [(ago(s), s.active_sessions) for s in samples]),
            Series("HTTP requests", "/s", [(ago(b), per_second(a, b, "requests")) for a, b in pairs]),
            Series("Store latency, mean per operation", " ms", [(ago(b), mean_ms(a, b)) for a, b in pairs]),
            Series("Sign-ins", "/min", [(ago(b), per_minute(a, b, "sign_ins")) for a, b in pairs]),
            Series("Revocations", "/min", [(ago(b), per_minute(a, b, "revocations")) for a, b in pairs]),
            Series("Serving from the memory fallback", "", [(ago(s), s.fallback_active) for s in samples], steps=True),
        ]


# -- drawing ------------------------------------------------------------------------------------------------------

_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 300, 120, 34, 18, 8


def _round_up(value: float) -> float:
    """The axis top: the next 1, 2 or 5 times a power of ten at or above the value (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _label(value: float, unit: str) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
    return f"{text}{unit}"


def chart(series: Series, window: float) -> str:
    """One series as an SVG line chart over the last `window` seconds, with its latest value in the title."""
    values = [value for _, value in series.points if value is not None]
    latest = next((value for _, value in reversed(series.points) if value is not None), None)
    if series.steps:
        top = 1.0
        headline = "-" if latest is None else ("yes" if latest else "no")
    else:
        top = _round_up(max(values, default=0.0))
        headline = "-" if latest is None else _label(latest, series.unit)
    plot_width, plot_height = _WIDTH - _LEFT - 4, _HEIGHT - _BOTTOM - _TOP

    def x(ago: float) -> float:
        return _LEFT + plot_width * (1 + max(-window, ago) / window)

    def y(value: float) -> float:
        return _TOP + plot_height * (1 - value / top)

    lines: list[list[str]] = []
    current: list[str] = []
    previous: float | None = None
    for ago, value in series.points:  # a None breaks the line: a gap says "unknown", a zero would lie
        if value is None:
            if current:
                lines.append(current)
            current, previous = [], None
            continue
        if series.steps and previous is not None:
            current.append(f"{x(ago):.1f},{y(previous):.1f}")  # a state holds until it changes
        current.append(f"{x(ago):.1f},{y(value):.1f}")
        previous = value
    if current:
        lines.append(current)
    polylines = "".join(
        f'<polyline fill="none" stroke="#0b6e99" stroke-width="2" points="{" ".join(line)}"/>' for line in lines
    )
    axis = (
        f'<line x1="{_LEFT}" y1="{_TOP + plot_height}" x2="{_WIDTH - 4}" y2="{_TOP + plot_height}" stroke="#cbd2d9"/>'
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{escape(_label(top, ""))}</text>'
        f'<text x="{_LEFT - 4}" y="{_TOP + plot_height}" text-anchor="end">0</text>'
        f'<text x="{_LEFT}" y="{_HEIGHT - 4}">-{escape(human_seconds(window))}</text>'
        f'<text x="{_WIDTH - 4}" y="{_HEIGHT - 4}" text-anchor="end">now</text>'
    )
    return (
        f'<figure class="chart"><figcaption>{escape(series.title)} <b>{escape(headline)}</b></figcaption>'
        f'<svg viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="{escape(series.title)}: {escape(headline)}">'
        f"{axis}{polylines}</svg></figure>"
    )
