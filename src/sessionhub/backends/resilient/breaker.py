"""A circuit breaker: stop calling a store that keeps failing, and probe it now and then until it answers.

closed     every call goes to the store; consecutive failures are counted.
open       no call goes to the store; once the probe delay has passed, one probe may start.
half_open  a probe (and then the catch-up work that must precede closing) is running; calls stay away.

The delay between probes starts short, so that a blip costs little, and doubles after every failed probe up to a
cap: `failover_backoff` (half a second) for the first `failover_window` seconds of an outage, when a failover (a
restart, Sentinel or Cluster promoting a replica) is likely to end it and every second of waiting is a second of
service lost, then `max_backoff`, so that a long outage costs one timeout per cap interval. Time comes from an
injectable monotonic timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from sessionhub.errors import BackendUnavailable

FAILURES = (BackendUnavailable, TimeoutError, OSError)
"""What a failed call of the store raises: the breaker counts these, and anything else is the call's own answer."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: int = 3,
        first_backoff: float = 0.1,
        max_backoff: float = 4.0,
        failover_backoff: float = 0.5,
        failover_window: float = 60.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or first_backoff <= 0 or max_backoff < first_backoff:
            raise ValueError("need threshold >= 1 and 0 < first_backoff <= max_backoff")
        if failover_backoff <= 0 or failover_window < 0:
            raise ValueError("need failover_backoff > 0 and failover_window >= 0")
        self.threshold = threshold
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.failover_backoff = failover_backoff
        self.failover_window = failover_window
        self._timer = timer
        self.state = BreakerState.CLOSED
        self.failures = 0
        """Consecutive failures while closed."""
        self.trips = 0
        self.probes = 0
        self.backoff = first_backoff
        self._next_probe_at = 0.0
        self._opened_at: float | None = None

    @property
    def is_closed(self) -> bool:
        return self.state is BreakerState.CLOSED

    def seconds_open(self) -> float:
        """How long calls have been kept away from the store (0 while closed)."""
        return 0.0 if self._opened_at is None else self._timer() - self._opened_at

    def record_success(self) -> None:
        if self.is_closed:
            self.failures = 0

    def record_failure(self) -> bool:
        """Count a failed call; True when it opened the breaker."""
        if not self.is_closed:
            return False
        self.failures += 1
        if self.failures < self.threshold:
            return False
        self.trip()
        return True

    def trip(self) -> None:
        """Open now, whatever the count (e.g. because a write had to be served elsewhere)."""
        if not self.is_closed:
            return
        self.state = BreakerState.OPEN
        self.trips += 1
        self._opened_at = self._timer()
        self.backoff = self.first_backoff
        self._next_probe_at = self._opened_at + self.backoff

    def probe_due(self) -> bool:
        return self.state is BreakerState.OPEN and self._timer() >= self._next_probe_at

    def start_probe(self) -> None:
        if self.state is not BreakerState.OPEN:
            raise RuntimeError(f"cannot probe a {self.state} breaker")
        self.state = BreakerState.HALF_OPEN
        self.probes += 1

    def probe_failed(self) -> None:
        """Back to open; the next probe waits twice as long as the last one did, up to the cap of the moment."""
        self.state = BreakerState.OPEN
        in_failover = self.seconds_open() < self.failover_window
        failover_cap = max(self.first_backoff, min(self.failover_backoff, self.max_backoff))
        cap = failover_cap if in_failover else self.max_backoff
        self.backoff = min(self.backoff * 2, cap)
        self._next_probe_at = self._timer() + self.backoff

    def close(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = None
