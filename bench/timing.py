"""The one timed loop every section uses: workers running steps concurrently, each step's latency recorded."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Throughput:
    """Completed steps, wall time and per-step latency percentiles (microseconds)."""

    count: int
    seconds: float
    p50_us: float
    p99_us: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def percentile(sorted_values: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, round(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


Step = Callable[[int, int], Awaitable[object]]
"""``step(worker, index)``: the index-th step of a worker; each worker runs its steps one after another."""


async def measure(step: Step, workers: int, per_worker: int, time_budget_s: float | None = None) -> Throughput:
    """Run ``workers`` concurrent workers of ``per_worker`` steps each.

    With a time budget, workers stop starting new steps once it is spent (every worker completes at least one
    step), so slow operations stay bounded; the result counts only completed steps.
    """
    if workers < 1 or per_worker < 1:
        raise ValueError("need at least one worker and one step per worker")
    durations: list[list[int]] = [[] for _ in range(workers)]
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s

    async def worker(number: int) -> None:
        record = durations[number].append
        clock = time.perf_counter_ns
        for index in range(per_worker):
            started = clock()
            await step(number, index)
            record(clock() - started)
            if deadline is not None and time.perf_counter() > deadline:
                return

    gc.collect()
    started = time.perf_counter()
    await asyncio.gather(*(worker(number) for number in range(workers)))
    seconds = time.perf_counter() - started
    latencies = sorted(duration for per_worker_durations in durations for duration in per_worker_durations)
    return Throughput(
        count=len(latencies),
        seconds=seconds,
        p50_us=percentile(latencies, 0.50) / 1000,
        p99_us=percentile(latencies, 0.99) / 1000,
    )


def fastest_run(runs: Sequence[Throughput]) -> Throughput:
    """The run with the highest throughput, latencies from that same run.

    Other work on the machine only ever slows a run down, so the fastest run is the best estimate of what the
    code itself costs (the convention of ``timeit``).
    """
    return max(runs, key=lambda run: run.per_second)


class RepeatedLoop(Protocol):
    """A measurement taken several times: ``start()`` once (untimed set-up, warm-up), ``run()`` per repeat."""

    async def start(self) -> None: ...

    async def run(self) -> None: ...


async def interleave(loops: Sequence[RepeatedLoop], repeats: int) -> None:
    """Run every loop once per round, ``repeats`` rounds.

    A burst of other work on the machine then slows one run of many loops rather than every run of one loop,
    and the fastest run of each loop stays comparable with the others'.
    """
    for loop in loops:
        await loop.start()
    for _ in range(repeats):
        for loop in loops:
            await loop.run()
