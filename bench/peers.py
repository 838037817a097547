"""The peers sessionhub is compared with: Starlette's signed-cookie sessions and starsessions."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware as SignedCookieMiddleware
from starlette.types import ASGIApp
from starsessions import JsonSerializer, SessionAutoloadMiddleware, generate_session_id
from starsessions import SessionMiddleware as StarsessionsMiddleware
from starsessions.stores import InMemoryStore, SessionStore
from starsessions.stores.redis import RedisStore

from bench.asgi import Contender
from bench.context import BenchContext
from bench.ops import OpSpec, OpSuite, cycle_to
from bench.scale import ScaleSuite, populate_strings, scale_keys
from bench.workload import bare_app, session_app, typical_payload

LIFETIME_S = 14 * 24 * 3600
"""Two weeks, Starlette's default cookie max-age; used by every peer so their expiry work is alike."""


@asynccontextmanager
async def bare(_ctx: BenchContext) -> AsyncIterator[ASGIApp]:
    yield bare_app()


@asynccontextmanager
async def starlette_signed_cookie(_ctx: BenchContext) -> AsyncIterator[ASGIApp]:
    secret = secrets.token_urlsafe(32)
    yield session_app([Middleware(SignedCookieMiddleware, secret_key=secret, max_age=LIFETIME_S)])


def starsessions_app(store: SessionStore) -> ASGIApp:
    return session_app(
        [
            Middleware(StarsessionsMiddleware, store=store, lifetime=LIFETIME_S, cookie_https_only=False),
            Middleware(SessionAutoloadMiddleware),
        ]
    )


@asynccontextmanager
async def starsessions_redis(ctx: BenchContext) -> AsyncIterator[ASGIApp]:
    client = ctx.connect()
    try:
        yield starsessions_app(RedisStore(connection=client))
    finally:
        await client.aclose()


@asynccontextmanager
async def starsessions_memory(_ctx: BenchContext) -> AsyncIterator[ASGIApp]:
    yield starsessions_app(InMemoryStore())


CONTENDERS = (
    Contender("bare", "bare Starlette app (no sessions)", bare, "none"),
    Contender("starlette-cookie", "Starlette SessionMiddleware (signed cookie)", starlette_signed_cookie, "cookie"),
    Contender("starsessions-memory", "starsessions + InMemoryStore", starsessions_memory, "memory"),
    Contender("starsessions-redis", "starsessions + RedisStore", starsessions_redis, "redis"),
)


def _stored_session(user: int) -> dict[str, Any]:
    """What starsessions' middleware serialises: the session plus its metadata."""
    return {
        **typical_payload(user),
        "__metadata__": {"lifetime": LIFETIME_S, "created": 0.0, "last_access": 0.0},
    }


@asynccontextmanager
async def starsessions_store_ops(ctx: BenchContext) -> AsyncIterator[Sequence[OpSpec[Any]]]:
    """starsessions' RedisStore with its middleware's JSON serialiser: the work of get, create, save, delete.

    It has no server-side rotate or login: ``regenerate_session_id`` only picks a new id for the next write.
    """
    client = ctx.connect()
    store = RedisStore(connection=client)
    serializer = JsonSerializer()

    async def write_sessions(count: int) -> list[str]:
        ids = [generate_session_id() for _ in range(count)]
        async with client.pipeline(transaction=False) as pipe:
            for number, session_id in enumerate(ids):
                pipe.set(store.prefix(session_id), serializer.serialize(_stored_session(number)), ex=LIFETIME_S)
            await pipe.execute()
        return ids

    async def existing_sessions(count: int) -> list[str]:
        return cycle_to(await write_sessions(min(count, 1000)), count)

    async def nothing(count: int) -> list[None]:
        return [None] * count

    async def get(session_id: str) -> dict[str, Any]:
        return serializer.deserialize(await store.read(session_id, LIFETIME_S))

    async def create(_: None) -> str:
        data = serializer.serialize(_stored_session(1))
        return await store.write(generate_session_id(), data, LIFETIME_S, LIFETIME_S)

    async def save(session_id: str) -> str:
        data = serializer.serialize({**_stored_session(1), "counter": 1})
        return await store.write(session_id, data, LIFETIME_S, LIFETIME_S)

    async def delete(session_id: str) -> None:
        await store.remove(session_id)

    try:
        yield (
            OpSpec("get", existing_sessions, get),
            OpSpec("create", nothing, create),
            OpSpec("save", existing_sessions, save),
            OpSpec("delete", write_sessions, delete),
        )
    finally:
        await client.aclose()


OP_SUITES = (OpSuite("starsessions", "starsessions RedisStore + JsonSerializer", starsessions_store_ops),)


@asynccontextmanager
async def starsessions_at_scale(ctx: BenchContext, sessions: int) -> AsyncIterator[Sequence[OpSpec[Any]]]:
    """``sessions`` starsessions sessions, each holding the bytes its middleware writes for a sign-in."""
    client = ctx.connect()
    store = RedisStore(connection=client)
    serializer = JsonSerializer()
    prefix = store.prefix("")
    await populate_strings(ctx, prefix, sessions, serializer.serialize(_stored_session(1)), LIFETIME_S)

    async def random_sessions(count: int) -> list[str]:
        return [key.removeprefix(prefix) for key in scale_keys(prefix, sessions, count)]

    async def get(session_id: str) -> dict[str, Any]:
        return serializer.deserialize(await store.read(session_id, LIFETIME_S))

    try:
        yield (OpSpec("get", random_sessions, get),)
    finally:
        await client.aclose()


SCALE_SUITES = (ScaleSuite("starsessions", "starsessions RedisStore + JsonSerializer", starsessions_at_scale),)
