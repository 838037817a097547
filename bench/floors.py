"""The floor every session read is compared with: raw redis-py ``redis.asyncio`` GET and GETEX loops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from redis.asyncio import Redis

from bench.context import BenchContext
from bench.ops import OpSpec, OpSuite, cycle_to
from bench.scale import ScaleSuite, populate_strings, scale_keys
from bench.workload import typical_payload

TTL_S = 3600
WORKING_SET = 1000
PREFIX = "floor:"


def _value() -> bytes:
    return orjson.dumps(typical_payload(1))


def _raw_ops(client: Redis, keys: Callable[[int], Awaitable[list[str]]]) -> tuple[OpSpec[Any], ...]:
    async def get(key: str) -> object:
        return await client.get(key)

    async def getex(key: str) -> object:
        return await client.getex(key, ex=TTL_S)

    return (OpSpec("GET", keys, get), OpSpec("GETEX", keys, getex))


@asynccontextmanager
async def raw_redis(ctx: BenchContext) -> AsyncIterator[Sequence[OpSpec[Any]]]:
    client = ctx.connect()
    working_set = [f"{PREFIX}{number}" for number in range(WORKING_SET)]
    await client.mset(dict.fromkeys(working_set, _value()))

    async def keys(count: int) -> list[str]:
        return cycle_to(working_set, count)

    try:
        yield _raw_ops(client, keys)
    finally:
        await client.delete(*working_set)
        await client.aclose()


@asynccontextmanager
async def raw_redis_at_scale(ctx: BenchContext, sessions: int) -> AsyncIterator[Sequence[OpSpec[Any]]]:
    client = ctx.connect()
    await populate_strings(ctx, PREFIX, sessions, _value(), TTL_S)

    async def keys(count: int) -> list[str]:
        return scale_keys(PREFIX, sessions, count)

    try:
        yield _raw_ops(client, keys)
    finally:
        await client.aclose()


OP_SUITES = (OpSuite("redis-py", "redis-py redis.asyncio (floor)", raw_redis),)
SCALE_SUITES = (ScaleSuite("redis-py", "redis-py redis.asyncio (floor)", raw_redis_at_scale),)
