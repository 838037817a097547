"""A legacy Redis server of its own (the source of a migration is another server), seeded per test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from tests.support.clock import FakeClock
from tests.support.redis_servers import RedisServer


@pytest.fixture(scope="session")
def legacy_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture
async def legacy(legacy_server: RedisServer) -> AsyncIterator[Redis]:
    """The legacy store, empty at the start of each test (the seeds' key names are fixed, so no prefix per test)."""
    client = Redis.from_url(legacy_server.url)
    await client.flushall()
    yield client
    await client.aclose()


def iso(clock: FakeClock, offset: float = 0) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(clock() + offset, tz=UTC).isoformat()


async def seed_session(
    legacy: Redis,
    clock: FakeClock,
    *,
    user_id: str | None = "alice",
    ttl: int = 3600,
    demo: bool = False,
    data: dict[str, Any] | None = None,
    index: bool = True,
    **extra: Any,
) -> str:
    """One session as the seeds stored it; returns its id (the browser's cookie value)."""
    session_id = secrets.token_urlsafe(24)
    record: dict[str, Any] = {
        "session_id": session_id,
        "user_id": user_id,
        "created_at": iso(clock, -600),
        "last_accessed": iso(clock, -60),
        "ip_address": "192.0.2.10",
        "user_agent": "SeedBrowser/1.0",
        "data": data if data is not None else {"cart": ["scroll"], "visits": 3},
        **extra,
    }
    if demo:
        record.setdefault("is_demo", True)
        record.setdefault("expires_at", iso(clock, ttl))
    await legacy.set(f"{'demo:' if demo else ''}session:{session_id}", orjson.dumps(record), ex=ttl)
    if user_id is not None and index:
        await legacy.sadd(f"user_sessions:{user_id}", session_id)
    return session_id
