"""Counting unknown session tokens per client, to notice (and optionally slow down) session-id guessing.

A browser presents an unknown token now and then (its session expired, the user signed out elsewhere); a client
presenting many in a short time is guessing. Each client address gets a sliding window holding the times of its
last `threshold` rejections, and at most `max_clients` addresses are tracked (the least recently seen is forgotten
first), so memory stays bounded whatever an attacker sends. The counts live in this process: with several worker
processes each counts what it sees.
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

    def retry_after(self, ip: str, now: float) -> float | None:
        """Seconds until `ip` is below the threshold again, or None when it is not over it."""
        with self._lock:
            times = self._rejections.get(ip)
            if times is None:
                return None
            self._drop_before(times, now - self.window)
            if len(times) < self.threshold:
                return None
            return times[0] + self.window - now

    def tracked_clients(self) -> int:
        with self._lock:
            return len(self._rejections)

    @staticmethod
    def _drop_before(times: deque[float], cutoff: float) -> None:
        while times and times[0] <= cutoff:
            times.popleft()
