"""What one signed-in session costs: bytes in Redis, bytes kept in the process, cookie bytes per request."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bench.asgi import Browser, Contender, sign_in
from bench.context import BenchContext

SCAN_BATCH = 1000


@dataclass(frozen=True)
class MemoryResult:
    contender: str
    sessions: int
    redis_key_bytes: float | None
    """Sum of ``MEMORY USAGE`` over every key in Redis, per session (None: the contender has no Redis)."""
    redis_used_memory_bytes: float | None
    """Growth of Redis ``used_memory`` per session: also counts the keyspace's own tables."""
    redis_keys: float | None
    process_bytes: float
    """Python memory still allocated per session once the requests are over (tracemalloc)."""
    cookie_bytes: float
    """Length of the Cookie header the browser sends back with every later request."""


async def _redis_usage(ctx: BenchContext) -> tuple[int, int]:
    """(sum of MEMORY USAGE over all keys, number of keys)."""
    total = keys = 0
    async for batch in _scan_batches(ctx):
        async with ctx.admin.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.memory_usage(key, samples=0)
            usages = await pipe.execute()
        total += sum(usage or 0 for usage in usages)
        keys += len(batch)
    return total, keys


async def _scan_batches(ctx: BenchContext) -> AsyncIterator[list[bytes | str]]:
    cursor = 0
    while True:
        cursor, batch = await ctx.admin.scan(cursor, count=SCAN_BATCH)
        if batch:
            yield batch
        if cursor == 0:
            return


async def _used_memory(ctx: BenchContext) -> int:
    return int((await ctx.admin.info("memory"))["used_memory"])


async def measure_memory(ctx: BenchContext, contender: Contender, sessions: int) -> MemoryResult:
    """Sign ``sessions`` browsers in one after another and see what stays behind."""
    async with contender.build(ctx) as app:
        # One untimed sign-in first, so that connections, imports and caches are not charged to the sessions.
        await sign_in([Browser(app, -1)], expect_cookie=True)
        used_before = 0
        if contender.uses_redis:
            await ctx.admin.flushall()
            used_before = await _used_memory(ctx)
        gc.collect()
        tracemalloc.start()
        try:
            allocated_before = tracemalloc.get_traced_memory()[0]
            cookie_bytes = 0
            for number in range(sessions):
                browser = Browser(app, number)
                await sign_in([browser], expect_cookie=True)
                cookie_bytes += len(browser.cookie_header())
            del browser
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - allocated_before
        finally:
            tracemalloc.stop()
        redis_key_bytes = redis_used = redis_keys = None
        if contender.uses_redis:
            total, keys = await _redis_usage(ctx)
            redis_key_bytes = total / sessions
            redis_keys = keys / sessions
            redis_used = (await _used_memory(ctx) - used_before) / sessions
            await ctx.admin.flushall()
    return MemoryResult(
        contender=contender.name,
        sessions=sessions,
        redis_key_bytes=redis_key_bytes,
        redis_used_memory_bytes=redis_used,
        redis_keys=redis_keys,
        process_bytes=max(retained, 0) / sessions,
        cookie_bytes=cookie_bytes / sessions,
    )
