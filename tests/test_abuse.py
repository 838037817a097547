"""The invalid-token monitor: sliding windows per client address, bounded memory, bursts reported once."""

from __future__ import annotations

from sessionhub.abuse import TokenAbuseMonitor


def test_a_burst_is_reported_once_when_the_threshold_is_reached() -> None:
    monitor = TokenAbuseMonitor(window=10, threshold=3, max_clients=100)
    reports = [monitor.record("192.0.2.1", now) for now in [0, 1, 2, 3, 4]]
    assert reports == [False, False, True, False, False]
    assert monitor.retry_after("192.0.2.1", 4.5) == 12 - 4.5  # the oldest of the last three (t=2) leaves at 12


def test_the_window_slides() -> None:
    monitor = TokenAbuseMonitor(window=10, threshold=3, max_clients=100)
    assert [monitor.record("192.0.2.1", now) for now in [0, 6, 12, 18]] == [False, False, False, False]
    assert monitor.retry_after("192.0.2.1", 18) is None
    assert monitor.record("192.0.2.1", 19) is True  # 12, 18, 19 within ten seconds
    assert monitor.retry_after("192.0.2.1", 30) is None
    # After a quiet window the next burst is reported again.
    assert [monitor.record("192.0.2.1", now) for now in [40, 41, 42]] == [False, False, True]


def test_addresses_are_counted_apart() -> None:
    monitor = TokenAbuseMonitor(window=10, threshold=2, max_clients=100)
    assert monitor.record("192.0.2.1", 0) is False
    assert monitor.record("192.0.2.2", 0) is False
    assert monitor.retry_after("192.0.2.2", 1) is None
    assert monitor.record("192.0.2.1", 1) is True
    assert monitor.retry_after("192.0.2.2", 1) is None


def test_memory_is_bounded_by_max_clients() -> None:
    monitor = TokenAbuseMonitor(window=60, threshold=5, max_clients=100)
    for number in range(10_000):
        monitor.record(f"10.0.{number // 256}.{number % 256}", number / 1000)
    assert monitor.tracked_clients() == 100
    monitor.record("10.0.0.0", 11)  # long forgotten: starts again at one
    assert monitor.retry_after("10.0.0.0", 11) is None
