"""sessionhub's contenders and suites: its ASGI middleware on memory and on Redis, SessionManager's core operations,
and a Redis holding a million sessions in RedisBackend's own key layout."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp

from bench.asgi import Contender
from bench.context import BenchContext
from bench.ops import OpSpec, OpSuite, cycle_to
from bench.peers import LIFETIME_S
from bench.scale import KEY_SEED, ScaleSuite
from bench.workload import session_app, typical_payload
from sessionhub.asgi import SessionMiddleware
from sessionhub.backends.base import SessionBackend
from sessionhub.backends.memory import MemoryBackend
from sessionhub.backends.redis import RedisBackend
from sessionhub.manager import SessionManager
from sessionhub.model import Session, SessionData
from sessionhub.settings import Settings
from sessionhub.tokens import bucket_for_user, session_id_for

KEY_PREFIX = "bench"
WORKING_SET = 1000
FILL_BATCH = 5_000
FILL_BUDGET_S = 180.0
SESSIONS_PER_USER = 4
"""In the scale fill every user has this many sessions, so that listing a user's sessions reads several."""


def bench_settings() -> Settings:
    """The peers' two-week lifetime, no per-user limit and no fallback: the same work as the peers do."""
    return Settings(
        session_ttl=LIFETIME_S,
        absolute_ttl=LIFETIME_S,
        key_prefix=KEY_PREFIX,
        max_sessions_per_user=None,
        redis_fallback=False,
    )


@asynccontextmanager
async def managed(backend: SessionBackend) -> AsyncIterator[SessionManager]:
    async with SessionManager(backend, bench_settings()) as manager:
        yield manager


def manager_app(manager: SessionManager) -> ASGIApp:
    async def data_of(request: Request) -> SessionData:
        data: SessionData = request.scope["session"]
        return data

    return session_app([Middleware(SessionMiddleware, manager=manager)], session_of=data_of)


@asynccontextmanager
async def sessionhub_memory(_ctx: BenchContext) -> AsyncIterator[ASGIApp]:
    async with managed(MemoryBackend()) as manager:
        yield manager_app(manager)


@asynccontextmanager
async def redis_manager(ctx: BenchContext, *, client_cache: bool) -> AsyncIterator[SessionManager]:
    """A manager on RedisBackend, with its client-side cache (the default) or with every read going to Redis."""
    client = ctx.connect()
    cache_size = bench_settings().redis_client_cache if client_cache else 0
    try:
        async with managed(RedisBackend(client, key_prefix=KEY_PREFIX, client_cache=cache_size)) as manager:
            yield manager
    finally:
        await client.aclose()


@asynccontextmanager
async def sessionhub_redis(ctx: BenchContext) -> AsyncIterator[ASGIApp]:
    async with redis_manager(ctx, client_cache=True) as manager:
        yield manager_app(manager)


@asynccontextmanager
async def sessionhub_redis_uncached(ctx: BenchContext) -> AsyncIterator[ASGIApp]:
    async with redis_manager(ctx, client_cache=False) as manager:
        yield manager_app(manager)


CONTENDERS = (
    Contender("sessionhub-memory", "sessionhub SessionMiddleware + MemoryBackend", sessionhub_memory, "memory"),
    Contender("sessionhub-redis", "sessionhub SessionMiddleware + RedisBackend", sessionhub_redis, "redis"),
    Contender(
        "sessionhub-redis-uncached",
        "sessionhub SessionMiddleware + RedisBackend, client cache off",
        sessionhub_redis_uncached,
        "redis",
    ),
)


@asynccontextmanager
async def sessionhub_ops(ctx: BenchContext) -> AsyncIterator[Sequence[OpSpec[Any]]]:
    """SessionManager on RedisBackend, each operation with the typical payload: what a request pays beyond HTTP."""
    async with redis_manager(ctx, client_cache=True) as manager:
        yield _manager_ops(manager)


@asynccontextmanager
async def sessionhub_ops_uncached(ctx: BenchContext) -> AsyncIterator[Sequence[OpSpec[Any]]]:
    async with redis_manager(ctx, client_cache=False) as manager:
        yield _manager_ops(manager)


def _manager_ops(manager: SessionManager) -> tuple[OpSpec[Any], ...]:
    payload = typical_payload(1)

    async def new_sessions(count: int) -> list[Session]:
        return [await manager.create(data=payload) for _ in range(count)]

    async def existing_sessions(count: int) -> list[Session]:
        return cycle_to(await new_sessions(min(count, WORKING_SET)), count)

    async def existing_tokens(count: int) -> list[str | None]:
        return [session.token for session in await existing_sessions(count)]

    async def consumed_tokens(count: int) -> list[str | None]:
        return [session.token for session in await new_sessions(count)]

    async def nothing(count: int) -> list[None]:
        return [None] * count

    async def new_users(count: int) -> list[tuple[str | None, str]]:
        tokens = await consumed_tokens(count)
        return [(token, f"user-{number}") for number, token in enumerate(tokens)]

    async def get(token: str) -> Session | None:
        return await manager.get(token)

    async def create(_: None) -> Session:
        return await manager.create(data=payload)

    async def save(session: Session) -> bool:
        session.data["counter"] = session.data.get("counter", 0) + 1
        return await manager.save(session)

    async def rotate(token: str) -> Session:
        return await manager.rotate(token)

    async def login(argument: tuple[str, str]) -> Session:
        token, user_id = argument
        return await manager.login(token, user_id, data=SessionData())

    async def delete(token: str) -> bool:
        return await manager.delete(token)

    return (
        OpSpec("get", existing_tokens, get),
        OpSpec("create", nothing, create),
        OpSpec("save", existing_sessions, save),
        OpSpec("rotate", consumed_tokens, rotate),
        OpSpec("login", new_users, login),
        OpSpec("delete", consumed_tokens, delete),
    )


OP_SUITES = (
    OpSuite("sessionhub", "sessionhub SessionManager + RedisBackend", sessionhub_ops),
    OpSuite(
        "sessionhub-uncached", "sessionhub SessionManager + RedisBackend, client cache off", sessionhub_ops_uncached
    ),
)


# Writes signed-in sessions exactly as RedisBackend's create script stores them (docs/key-layout.md): the session
# hash with its idle deadline as TTL, its entry in the bucket index and in the user's index, both indexes expiring
# after the absolute deadline. ARGV: tag prefix, now, idle deadline, absolute deadline, number of metadata+data
# field/value pairs n, the 2n pairs shared by every session, then per session: bucket, digest, id, user id.
# Done inside Redis so that a million sessions take seconds, not a million round trips.
FILL_LUA = """
local prefix, now = ARGV[1], tonumber(ARGV[2])
local deadline, absolute = tonumber(ARGV[3]), tonumber(ARGV[4])
local shared = tonumber(ARGV[5]) * 2
local fields = {}
for i = 1, shared do fields[i] = ARGV[5 + i] end
local first = 6 + shared
for i = first, #ARGV, 4 do
  local tag = prefix .. ':{' .. ARGV[i] .. '}:'
  local key, id, user = tag .. 's:' .. ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('HSET', key, 'u', user, unpack(fields))
  redis.call('PEXPIRE', key, deadline - now)
  redis.call('ZADD', tag .. 'all', deadline, id)
  redis.call('ZADD', tag .. 'u:' .. user, now, id)
  redis.call('PEXPIRE', tag .. 'all', absolute - now)
  redis.call('PEXPIRE', tag .. 'u:' .. user, absolute - now)
end
return (#ARGV - first + 1) / 4
"""


def _scale_token(index: int) -> str:
    """The token of the index-th filled session: reproducible, so the timed calls can name sessions the fill wrote
    without the bench keeping a million tokens. (Real tokens are random; these have the same shape.)"""
    user = f"user-{index // SESSIONS_PER_USER}"
    return bucket_for_user(user) + f"{index:043d}"


async def _fill(ctx: BenchContext, sessions: int, now: int) -> None:
    """``sessions`` signed-in sessions with the typical payload, server-side, in batches of FILL_BATCH."""
    probe = SessionManager(MemoryBackend(), bench_settings(), clock=lambda: now / 1000)
    template = await probe.create(user_id="user-0", data=typical_payload(1))
    record = await probe.backend.peek(template.id, now)
    assert record is not None
    shared: list[str | bytes | int] = [
        "k", record.kind, "c", now, "a", now, "e", record.expires_at, "x", record.absolute_expires_at,
        "t", record.idle_ttl, "ua", "sessionhub-bench", "ip", "127.0.0.1",
    ]  # fmt: skip
    for key, raw in record.data.items():
        shared += [f"d:{key}", raw]
    script = ctx.admin.register_script(FILL_LUA)
    header = [KEY_PREFIX, now, record.expires_at, record.absolute_expires_at, len(shared) // 2, *shared]
    deadline = time.monotonic() + FILL_BUDGET_S
    for first in range(0, sessions, FILL_BATCH):
        if time.monotonic() > deadline:
            raise RuntimeError(f"filling {sessions:,} sessions took over {FILL_BUDGET_S:.0f} s; stopped at {first:,}")
        batch: list[str] = []
        for index in range(first, min(first + FILL_BATCH, sessions)):
            session_id = session_id_for(_scale_token(index))
            assert session_id is not None
            batch += [session_id[:2], session_id[2:], session_id, f"user-{index // SESSIONS_PER_USER}"]
        await script(args=[*header, *batch])


@asynccontextmanager
async def sessionhub_at_scale(ctx: BenchContext, sessions: int) -> AsyncIterator[Sequence[OpSpec[Any]]]:
    """``sessions`` signed-in sessions in Redis, SESSIONS_PER_USER per user; get, stats() and listing a user's."""
    await _fill(ctx, sessions, int(time.time() * 1000))
    users = max(sessions // SESSIONS_PER_USER, 1)
    client = ctx.connect()

    async def random_tokens(count: int) -> list[str]:
        draw = random.Random(KEY_SEED).randrange
        return [_scale_token(draw(sessions)) for _ in range(count)]

    async def random_users(count: int) -> list[str]:
        draw = random.Random(KEY_SEED).randrange
        return [f"user-{draw(users)}" for _ in range(count)]

    async def nothing(count: int) -> list[None]:
        return [None] * count

    try:
        # The client cache off: this section measures how the store scales, and with 1,000 sessions the random
        # draws would repeat and be served from process memory.
        async with managed(RedisBackend(client, key_prefix=KEY_PREFIX, client_cache=0)) as manager:

            async def get(token: str) -> Session:
                session = await manager.get(token)
                if session is None:
                    raise AssertionError("a filled session was not found: the fill does not match the key layout")
                return session

            async def stats(_: None) -> dict[str, Any]:
                figures = await manager.stats()
                if figures["active_sessions"] != sessions:
                    raise AssertionError(f"stats() counted {figures['active_sessions']:,} of {sessions:,} sessions")
                return figures

            async def list_user_sessions(user_id: str) -> list[Session]:
                listed = await manager.list_user_sessions(user_id)
                if len(listed) != SESSIONS_PER_USER:
                    raise AssertionError(f"{user_id} has {len(listed)} sessions listed, not {SESSIONS_PER_USER}")
                return listed

            yield (
                OpSpec("get", random_tokens, get),
                OpSpec("stats", nothing, stats),
                OpSpec("list_user_sessions", random_users, list_user_sessions),
            )
    finally:
        await client.aclose()


SCALE_SUITES = (ScaleSuite("sessionhub", "sessionhub SessionManager + RedisBackend", sessionhub_at_scale),)
