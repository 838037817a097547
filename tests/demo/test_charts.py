"""The operator page's charts: samples read from the real metrics registry, rates between samples, and the SVG."""

from __future__ import annotations

import re

from sessionhub import SessionManager
from sessionhub.backends import MemoryBackend
from sessionhub.demo.charts import MetricsHistory, Sample, Series, chart, read_sample
from sessionhub.metrics import SessionMetrics


def sample(at: float, **values: float | None) -> Sample:
    fields: dict[str, float | None] = {
        "active_sessions": 0.0, "store_up": 1.0, "fallback_active": 0.0, "requests": 0.0, "operations": 0.0,
        "operation_seconds": 0.0, "sign_ins": 0.0, "revocations": 0.0,
    }  # fmt: skip
    return Sample(at=at, **(fields | values))  # type: ignore[arg-type]


async def test_a_sample_reads_what_the_manager_did() -> None:
    async with SessionManager(MemoryBackend()) as manager:
        metrics = SessionMetrics(manager, cache_seconds=0)
        history = MetricsHistory(metrics, every=1)
        first = await manager.login(None, "amira")
        await manager.login(None, "bea")
        await manager.revoke(first.id, reason="test")
        history.count_request(200)
        history.count_request(503)

        await history.take()

    [taken] = history.samples
    assert taken.active_sessions == 1
    assert (taken.sign_ins, taken.revocations, taken.requests) == (2, 1, 2)
    assert taken.operations >= 3
    assert taken.operation_seconds > 0
    assert (taken.store_up, taken.fallback_active) == (1, 0)
    assert read_sample(metrics.registry, 0.0).sign_ins == 2


def test_the_series_are_rates_between_samples() -> None:
    history = MetricsHistory(SessionMetrics(SessionManager(MemoryBackend())), every=5)
    history.samples.extend(
        [
            sample(100, requests=10, operations=4, operation_seconds=0.004, sign_ins=1),
            sample(105, requests=20, operations=8, operation_seconds=0.012, sign_ins=2, active_sessions=None),
            sample(110, requests=20, operations=8, operation_seconds=0.012, sign_ins=2, fallback_active=1),
        ]
    )

    by_title = {series.title: series for series in history.series()}

    assert by_title["HTTP requests"].points == [(-5, 2.0), (0, 0.0)]
    assert by_title["Store latency, mean per operation"].points == [(-5, 2.0), (0, None)]  # no operation: no mean
    assert by_title["Sign-ins"].points == [(-5, 12.0), (0, 0.0)]
    assert by_title["Active sessions"].points == [(-10, 0.0), (-5, None), (0, 0.0)]
    assert by_title["Serving from the memory fallback"].points[-1] == (0, 1)


def points_of(svg: str) -> list[list[str]]:
    return [found.split() for found in re.findall(r'points="([^"]*)"', svg)]


def test_an_unknown_value_breaks_the_line_and_a_state_is_drawn_in_steps() -> None:
    gap = chart(Series("Active sessions", "", [(-20, 1.0), (-10, None), (-5, 3.0), (0, 4.0)]), 30)
    steps = chart(Series("Fallback", "", [(-10, 0.0), (-5, 1.0), (0, 1.0)], steps=True), 30)

    assert [len(line) for line in points_of(gap)] == [1, 2]
    assert "<b>4</b>" in gap
    assert 'text-anchor="end">5<' in gap  # the axis tops out at a round number above the highest value
    assert len(points_of(steps)[0]) == 5  # each change drawn as a step: the old state holds until then
    assert "<b>yes</b>" in steps


def test_a_title_is_escaped() -> None:
    assert "<script>" not in chart(Series("<script>", "", []), 30)
