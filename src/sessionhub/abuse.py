"""Counting unknown session tokens per client, to notice (and optionally slow down) session-id guessing.

A browser presents an unknown token now and then (its session expired, the user signed out elsewhere); a client
presenting many in a short time is guessing. Each client address gets a sliding window holding the times of its
last `threshold` rejections, and at most `max_clients` addresses are tracked (the least recently seen is forgotten
first), so memory stays bounded whatever an attacker sends.

On Redis the count is shared by every process (`SharedAbuseCounter`: one counter per address, from the first
rejection for `window` seconds), and this monitor keeps what the shared count told it: an address over the
threshold is throttled here until its window ends. So N worker processes give a guesser one budget (plus at most one
token per process, the one that tells it), and the check on a request costs no store call. The per-process sliding
window serves the memory store, and Redis outages.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque


class TokenAbuseMonitor:
    def __init__(self, *, window: float, threshold: int, max_clients: int) -> None:
        self.window = window
        self.threshold = threshold
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._rejections: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked: OrderedDict[str, float] = OrderedDict()
        """Addresses the shared count put over the threshold, and until when (least recently told first)."""

    def record(self, ip: str, now: float) -> bool:
        """Count one unknown token from `ip`. True exactly when this one makes `threshold` within the window: a
        burst is reported once, not on every further token."""
        with self._lock:
            times = self._rejections.pop(ip, None)
            if times is None:
                times = deque(maxlen=self.threshold)
            self._drop_before(times, now - self.window)
            already_over = len(times) >= self.threshold
            times.append(now)
            self._rejections[ip] = times
            while len(self._rejections) > self.max_clients:
                self._rejections.popitem(last=False)
            return not already_over and len(times) >= self.threshold

    def shared(self, ip: str, count: int, remaining: float, now: float) -> bool:
        """Take the shared count of `ip` (`count` tokens in a window ending in `remaining` seconds). True exactly
        when this count reached `threshold`: of all the processes, the one that counted it reports the burst."""
        if count < self.threshold:
            return False
        with self._lock:
            self._blocked.pop(ip, None)
            self._blocked[ip] = now + remaining
            while len(self._blocked) > self.max_clients:
                self._blocked.popitem(last=False)
        return count == self.threshold

    def retry_after(self, ip: str, now: float) -> float | None:
        """Seconds until `ip` is below the threshold again, or None when it is not over it."""
        with self._lock:
            waits = []
            blocked_until = self._blocked.get(ip)
            if blocked_until is not None:
                if blocked_until > now:
                    waits.append(blocked_until - now)
                else:
                    del self._blocked[ip]
            times = self._rejections.get(ip)
            if times is not None:
                self._drop_before(times, now - self.window)
                if len(times) >= self.threshold:
                    waits.append(times[0] + self.window - now)
            return max(waits) if waits else None

    def tracked_clients(self) -> int:
        with self._lock:
            return len(self._rejections.keys() | self._blocked.keys())

    @staticmethod
    def _drop_before(times: deque[float], cutoff: float) -> None:
        while times and times[0] <= cutoff:
            times.popleft()
