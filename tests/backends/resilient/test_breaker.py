"""The circuit breaker on its own, driven by a fake monotonic timer."""

from __future__ import annotations

import itertools

import pytest

from sessionhub.backends.resilient.breaker import BreakerState, CircuitBreaker
from tests.support.clock import FakeClock


@pytest.fixture
def timer() -> FakeClock:
    """The breaker's monotonic timer."""
    return FakeClock(100.0)


def test_opens_after_threshold_consecutive_failures_only(timer: FakeClock) -> None:
    breaker = CircuitBreaker(threshold=3, timer=timer)
    assert not breaker.record_failure()
    assert not breaker.record_failure()
    breaker.record_success()  # the count is of consecutive failures
    assert not breaker.record_failure()
    assert not breaker.record_failure()
    assert breaker.is_closed

    assert breaker.record_failure()

    assert breaker.state is BreakerState.OPEN
    assert breaker.trips == 1
    assert not breaker.record_failure()  # already open: no second trip


def test_probes_back_off_exponentially_up_to_the_cap(timer: FakeClock) -> None:
    breaker = CircuitBreaker(threshold=1, first_backoff=0.5, max_backoff=3.0, failover_window=0, timer=timer)
    breaker.trip()
    waits = []
    for _ in range(6):
        started = timer.now
        while not breaker.probe_due():
            timer.now += 0.125
        waits.append(timer.now - started)
        breaker.start_probe()
        assert breaker.state is BreakerState.HALF_OPEN
        assert not breaker.probe_due()  # one probe at a time
        breaker.probe_failed()

    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert breaker.probes == 6


def test_probes_stay_under_a_second_apart_while_a_failover_is_likely_then_back_off(timer: FakeClock) -> None:
    """Full service returns within half a second of a failover ending, for the first minute of an outage; after
    it, an outage that lasts costs a probe every max_backoff seconds."""
    breaker = CircuitBreaker(threshold=1, first_backoff=0.1, max_backoff=4.0, timer=timer)
    breaker.trip()
    waits = []
    while breaker.seconds_open() < 75:
        timer.now += breaker.backoff
        assert breaker.probe_due()
        waits.append(breaker.backoff)
        breaker.start_probe()
        breaker.probe_failed()
    assert waits[:4] == [0.1, 0.2, 0.4, 0.5]
    in_failover = [wait for wait, at in zip(waits, itertools.accumulate(waits), strict=True) if at <= 60]
    assert max(in_failover) == 0.5
    assert waits[-3:] == [4.0, 4.0, 4.0]


def test_close_resets_and_the_next_trip_starts_with_a_short_backoff(timer: FakeClock) -> None:
    breaker = CircuitBreaker(threshold=2, first_backoff=0.25, max_backoff=4.0, failover_window=0, timer=timer)
    breaker.trip()
    timer.now += 7
    assert breaker.seconds_open() == 7
    for _ in range(3):
        timer.now += breaker.backoff
        breaker.start_probe()
        breaker.probe_failed()
    assert breaker.backoff == 2.0

    breaker.start_probe()
    breaker.close()

    assert (breaker.is_closed, breaker.failures, breaker.seconds_open()) == (True, 0, 0.0)
    breaker.trip()
    assert breaker.backoff == 0.25
    assert breaker.trips == 2


def test_misuse_is_refused(timer: FakeClock) -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=0)
    with pytest.raises(ValueError, match="backoff"):
        CircuitBreaker(first_backoff=5, max_backoff=1)
    with pytest.raises(RuntimeError, match="closed"):
        CircuitBreaker(timer=timer).start_probe()
