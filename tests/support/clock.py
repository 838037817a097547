"""A clock the tests move by hand."""

from __future__ import annotations


class FakeClock:
    """Seconds since the epoch that move only when a test says so, for both backends alike."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
