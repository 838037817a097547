"""Operations on a Redis holding many sessions (a million by default): does their cost stay flat?"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from bench.context import BenchContext
from bench.ops import OpLoop, OpResult, OpSpec
from bench.timing import interleave

ScaleSuiteFactory = Callable[[BenchContext, int], AbstractAsyncContextManager[Sequence[OpSpec[Any]]]]
"""Fills Redis with the given number of sessions on entry, yields the operations to time on them."""

POPULATE_BATCH = 50_000
KEY_SEED = 20_261_123

# Writes one value under ARGV[1] .. <index as 32 hex digits, like a 128-bit session id> for every index from
# ARGV[2] to ARGV[3], expiring after ARGV[5] seconds. Done inside Redis so that a million sessions load in
# seconds instead of a million client round trips; batches keep each call short so the server never stalls.
POPULATE_LUA = """
local prefix, value, ttl = ARGV[1], ARGV[4], tonumber(ARGV[5])
for index = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  redis.call('SET', prefix .. string.format('%032x', index), value, 'EX', ttl)
end
return tonumber(ARGV[3]) - tonumber(ARGV[2]) + 1
"""


@dataclass(frozen=True)
class ScaleSuite:
    name: str
    label: str
    build: ScaleSuiteFactory


@dataclass(frozen=True)
class ScaleResult:
    suite: str
    sessions: int
    populate_s: float
    used_memory_bytes: int
    op: OpResult


def scale_key(prefix: str, index: int) -> str:
    """The key ``populate_strings`` wrote for ``index``."""
    return f"{prefix}{index:032x}"


def scale_keys(prefix: str, populated: int, count: int) -> list[str]:
    """``count`` keys drawn at random (seeded) from the ``populated`` ones: lookups hit the whole keyspace."""
    draw = random.Random(KEY_SEED).randrange
    return [scale_key(prefix, draw(populated)) for _ in range(count)]


async def populate_strings(ctx: BenchContext, prefix: str, count: int, value: bytes, ttl_s: int) -> None:
    """Write ``count`` copies of ``value`` under ``scale_key(prefix, 0 .. count-1)``, server-side."""
    script = ctx.admin.register_script(POPULATE_LUA)
    for first in range(0, count, POPULATE_BATCH):
        last = min(first + POPULATE_BATCH, count) - 1
        await script(args=[prefix, first, last, value, ttl_s])


async def run_scale_suite(
    ctx: BenchContext,
    suite: ScaleSuite,
    sessions: int,
    calls: int,
    repeats: int,
    time_budget_s: float,
) -> list[ScaleResult]:
    """Time each of the suite's operations sequentially on a freshly filled Redis, then empty it."""
    await ctx.admin.flushall()
    results: list[ScaleResult] = []
    try:
        started = time.perf_counter()
        async with suite.build(ctx, sessions) as ops:
            populate_s = time.perf_counter() - started
            used_memory = int((await ctx.admin.info("memory"))["used_memory"])
            loops = [OpLoop(ctx, suite.name, spec, calls, 1, time_budget_s) for spec in ops]
            await interleave(loops, repeats)
            results += [ScaleResult(suite.name, sessions, populate_s, used_memory, loop.result()) for loop in loops]
    finally:
        await ctx.admin.flushall()
    return results
