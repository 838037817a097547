"""Session operations timed one by one: ops/s and latency percentiles, alone and with concurrent tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from itertools import cycle, islice
from typing import Any, Generic, TypeVar

from bench.context import BenchContext
from bench.timing import Throughput, fastest_run, measure

T = TypeVar("T")

WARM_UP_CALLS = 100


@dataclass(frozen=True)
class OpSpec(Generic[T]):
    """One operation: ``prepare(count)`` gives an argument per call (untimed); ``call(arg)`` is timed."""

    name: str
    prepare: Callable[[int], Awaitable[Sequence[T]]]
    call: Callable[[T], Awaitable[object]]


OpSuiteFactory = Callable[[BenchContext], AbstractAsyncContextManager[Sequence[OpSpec[Any]]]]
"""Sets up a store or manager on entry, yields its operations, releases its resources on exit."""


@dataclass(frozen=True)
class OpSuite:
    name: str
    label: str
    build: OpSuiteFactory


@dataclass(frozen=True)
class OpResult:
    suite: str
    op: str
    concurrency: int
    throughput: Throughput
    round_trips_per_op: float


def cycle_to(items: Sequence[T], count: int) -> list[T]:
    """``count`` items taken round-robin from ``items``: a fixed working set reused by many calls."""
    return list(islice(cycle(items), count))


async def _timed_run(
    spec: OpSpec[Any], concurrency: int, per_worker: int, time_budget_s: float | None
) -> Throughput:
    arguments = await spec.prepare(per_worker * concurrency)

    async def step(worker: int, index: int) -> None:
        await spec.call(arguments[index * concurrency + worker])

    return await measure(step, concurrency, per_worker, time_budget_s)


async def measure_op(
    ctx: BenchContext,
    suite: str,
    spec: OpSpec[Any],
    count: int,
    concurrency: int,
    repeats: int,
    time_budget_s: float,
) -> OpResult:
    """``count`` calls (rounded up to a multiple of ``concurrency``) spread over as many tasks, repeated."""
    per_worker = -(-count // concurrency)
    # Warm-up at the measured concurrency, so the connection pool has grown before the clock runs.
    await _timed_run(spec, concurrency, max(1, min(per_worker, WARM_UP_CALLS // concurrency)), time_budget_s)
    runs: list[Throughput] = []
    round_trips = 0
    for _ in range(repeats):
        before = ctx.round_trips.count
        runs.append(await _timed_run(spec, concurrency, per_worker, time_budget_s))
        round_trips += ctx.round_trips.count - before
    return OpResult(
        suite=suite,
        op=spec.name,
        concurrency=concurrency,
        throughput=fastest_run(runs),
        round_trips_per_op=round_trips / sum(run.count for run in runs),
    )
