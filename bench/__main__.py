"""``python -m bench``: measure sessionhub's peers (and sessionhub) in one run and write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

from rich.console import Console

from bench import environment, registry
from bench.asgi import ScenarioLoop
from bench.context import BenchContext
from bench.memory import measure_memory
from bench.ops import OpLoop
from bench.redis_server import RedisServer
from bench.report import RunResults, markdown, plural, print_tables, tables, write_chart
from bench.scale import run_scale_suite
from bench.timing import interleave
from bench.workload import SCENARIOS

SECTIONS = ("ops", "asgi", "memory", "scale")
CHART_NAME = "results.png"


@dataclass(frozen=True)
class Settings:
    requests: int
    ops: int
    repeats: int
    concurrency: tuple[int, ...]
    memory_sessions: int
    scale_sessions: int
    scale_calls: int
    time_budget_s: float
    sections: tuple[str, ...]
    contenders: tuple[str, ...] | None
    suites: tuple[str, ...] | None
    out: Path
    quick: bool

    def describe(self) -> dict[str, str]:
        return {
            "mode": "--quick (smoke run, figures not meaningful)" if self.quick else "full",
            "requests per contender, scenario and concurrency": f"{self.requests:,}",
            "calls per operation and concurrency": f"{self.ops:,}",
            "repeats (fastest run reported)": str(self.repeats),
            "concurrency": ", ".join(map(str, self.concurrency)),
            "sessions for memory": f"{self.memory_sessions:,}",
            "sessions for scale": f"{self.scale_sessions:,}",
            "time budget per timed run": f"{self.time_budget_s:g} s",
        }


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("expected a positive integer")
    return number


def _counts(value: str) -> tuple[int, ...]:
    counts = tuple(int(name) for name in _names(value))
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("expected positive integers separated by commas")
    return counts


def parse_settings(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts for CI's smoke run (well under 60 s)")
    parser.add_argument("--requests", type=_positive, help="ASGI requests per contender, scenario and concurrency")
    parser.add_argument("--ops", type=_positive, help="calls per core operation and concurrency")
    parser.add_argument("--repeats", type=_positive, help="timed runs per measurement; the fastest is reported")
    parser.add_argument("--concurrency", type=_counts, help="comma-separated task/client counts (default 1,50)")
    parser.add_argument("--memory-sessions", type=_positive, help="sessions signed in to measure memory per session")
    parser.add_argument("--scale-sessions", type=_positive, help="sessions put in Redis for the scale section")
    parser.add_argument("--sections", type=_names, default=SECTIONS, help=f"subset of {','.join(SECTIONS)}")
    parser.add_argument("--contenders", type=_names, help="only these ASGI contenders (names as in the tables)")
    parser.add_argument("--suites", type=_names, help="only these operation and scale suites")
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for RESULTS.md and the chart (default: bench/; --quick: a temp dir)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    quick: bool = args.quick
    default_out = Path(tempfile.gettempdir()) / "sessionhub-bench-quick" if quick else Path(__file__).parent
    return Settings(
        requests=args.requests or (200 if quick else 10_000),
        ops=args.ops or (200 if quick else 10_000),
        repeats=args.repeats or (1 if quick else 5),
        concurrency=args.concurrency or (1, 50),
        memory_sessions=args.memory_sessions or (50 if quick else 2_000),
        scale_sessions=args.scale_sessions or (10_000 if quick else 1_000_000),
        scale_calls=200 if quick else 5_000,
        time_budget_s=3.0 if quick else 30.0,
        sections=tuple(args.sections),
        contenders=args.contenders,
        suites=args.suites,
        out=args.out or default_out,
        quick=quick,
    )


class _Named(Protocol):
    @property
    def name(self) -> str: ...


NamedT = TypeVar("NamedT", bound=_Named)


def _selected(items: Sequence[NamedT], names: tuple[str, ...] | None) -> list[NamedT]:
    if names is not None:
        unknown = set(names) - {item.name for item in items}
        if unknown:
            raise SystemExit(f"unknown names: {', '.join(sorted(unknown))}")
    return [item for item in items if names is None or item.name in names]


async def measure_ops(ctx: BenchContext, settings: Settings, results: RunResults, console: Console) -> None:
    async with AsyncExitStack() as stack:
        loops = [
            OpLoop(ctx, suite.name, spec, settings.ops, concurrency, settings.time_budget_s)
            for suite in _selected(registry.OP_SUITES, settings.suites)
            for spec in await stack.enter_async_context(suite.build(ctx))
            for concurrency in settings.concurrency
        ]
        console.print(f"ops    {len(loops)} measurements x {settings.repeats} interleaved rounds ...")
        await interleave(loops, settings.repeats)
    await ctx.check_released("the operation suites")
    for loop in loops:
        op = loop.result()
        results.ops.append(op)
        console.print(
            f"ops    {op.suite} {op.op}, {plural(op.concurrency, 'task')}: {op.throughput.per_second:,.0f} ops/s"
        )


async def measure_requests(ctx: BenchContext, settings: Settings, results: RunResults, console: Console) -> None:
    async with AsyncExitStack() as stack:
        loops = [
            ScenarioLoop(ctx, contender, app, scenario, concurrency, settings.requests, settings.time_budget_s)
            for contender in _selected(registry.CONTENDERS, settings.contenders)
            for app in [await stack.enter_async_context(contender.build(ctx))]
            for scenario, concurrency in product(SCENARIOS, settings.concurrency)
        ]
        console.print(f"asgi   {len(loops)} measurements x {settings.repeats} interleaved rounds ...")
        await interleave(loops, settings.repeats)
    await ctx.check_released("the contenders")
    for loop in loops:
        request = loop.result()
        results.requests.append(request)
        console.print(
            f"asgi   {request.contender} {request.scenario}, {plural(request.concurrency, 'client')}: "
            f"{request.throughput.per_second:,.0f} req/s"
        )


async def measure_memories(ctx: BenchContext, settings: Settings, results: RunResults, console: Console) -> None:
    for contender in _selected(registry.CONTENDERS, settings.contenders):
        if contender.has_session:
            memory = await measure_memory(ctx, contender, settings.memory_sessions)
            await ctx.check_released(f"contender {contender.name}")
            results.memory.append(memory)
            console.print(f"memory {contender.name}: {memory.sessions:,} sessions measured")


async def measure_scale(ctx: BenchContext, settings: Settings, results: RunResults, console: Console) -> None:
    for suite in _selected(registry.SCALE_SUITES, settings.suites):
        scaled = await run_scale_suite(
            ctx,
            suite,
            settings.scale_sessions,
            settings.scale_calls,
            settings.repeats,
            settings.time_budget_s,
        )
        await ctx.check_released(f"scale suite {suite.name}")
        results.scale += scaled
        for result in scaled:
            console.print(
                f"scale  {suite.name} {result.op.op} with {result.sessions:,} sessions: "
                f"p50 {result.op.throughput.p50_us:,.0f} µs"
            )


SECTION_RUNNERS = {
    "ops": measure_ops,
    "asgi": measure_requests,
    "memory": measure_memories,
    "scale": measure_scale,
}


async def run(server: RedisServer, settings: Settings, console: Console) -> RunResults:
    ctx = BenchContext.create(server)
    try:
        redis_version = str((await ctx.admin.info("server"))["redis_version"])
        results = RunResults(
            date=environment.now(),
            machine=environment.machine(),
            versions=environment.versions(redis_version),
            settings=settings.describe(),
            contenders=registry.CONTENDERS,
            reference_peers=registry.REFERENCE_PEERS,
            floor=registry.FLOOR,
            suite_labels={
                **{suite.name: suite.label for suite in registry.OP_SUITES},
                **{suite.name: suite.label for suite in registry.SCALE_SUITES},
            },
        )
        results.machine["load average at start"] = environment.load_average()
        for section in SECTIONS:
            if section in settings.sections:
                await SECTION_RUNNERS[section](ctx, settings, results, console)
        results.machine["load average at end"] = environment.load_average()
    finally:
        await ctx.aclose()
    return results


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Unwinds through the `with RedisServer()` block, so a CI timeout does not leave redis-server behind.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # Wide enough for the tables when stdout is a pipe or a CI log rather than a terminal.
    console = Console(width=None if sys.stdout.isatty() else 220)
    started = time.perf_counter()
    load = environment.load_average()
    if load != "unknown" and float(load) > 0.5:
        console.print(f"warning: load average {load} before the run; other work on the machine adds noise")
    with RedisServer() as server:
        console.print(f"redis-server on {server.host}:{server.port} (no persistence)")
        results = asyncio.run(run(server, settings, console))
    built = tables(results)
    print_tables(console, built)
    settings.out.mkdir(parents=True, exist_ok=True)
    chart = settings.out / CHART_NAME
    write_chart(results, chart)
    report = settings.out / "RESULTS.md"
    report.write_text(markdown(results, built, CHART_NAME if chart.exists() else None))
    console.print(f"wrote {report} and {chart} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
