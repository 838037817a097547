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


class OpLoop:
    """``count`` calls of an operation (rounded up to a multiple of ``concurrency``) over as many tasks."""

    def __init__(
        self,
        ctx: BenchContext,
        suite: str,
        spec: OpSpec[Any],
        count: int,
        concurrency: int,
        time_budget_s: float | None,
    ) -> None:
        self.ctx = ctx
        self.suite = suite
        self.spec = spec
        self.concurrency = concurrency
        self.per_worker = -(-count // concurrency)
        self.time_budget_s = time_budget_s
        self.runs: list[Throughput] = []
        self.round_trips = 0

    async def _timed(self, per_worker: int) -> tuple[Throughput, int]:
        """The calls' throughput, and the round trips they made (not those of preparing their arguments)."""
        arguments = await self.spec.prepare(per_worker * self.concurrency)
        concurrency, call = self.concurrency, self.spec.call

        async def step(worker: int, index: int) -> None:
            await call(arguments[index * concurrency + worker])

        before = self.ctx.round_trips.count
        throughput = await measure(step, concurrency, per_worker, self.time_budget_s)
        return throughput, self.ctx.round_trips.count - before

    async def start(self) -> None:
        # Warm-up at the measured concurrency, so the connection pool has grown before the clock runs.
        await self._timed(max(1, min(self.per_worker, WARM_UP_CALLS // self.concurrency)))

    async def run(self) -> None:
        throughput, round_trips = await self._timed(self.per_worker)
        self.runs.append(throughput)
        self.round_trips += round_trips

    def result(self) -> OpResult:
        return OpResult(
            suite=self.suite,
            op=self.spec.name,
            concurrency=self.concurrency,
            throughput=fastest_run(self.runs),
            round_trips_per_op=self.round_trips / sum(run.count for run in self.runs),
        )
