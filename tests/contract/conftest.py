"""What every contract test checks after it ran on a Redis deployment: each key it left behind expires."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sessionhub.backends import RedisBackend, ResilientBackend
from tests.support.deployments import backend_factory


@pytest.fixture(autouse=True)
async def every_key_expires(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[None]:
    """A key without a TTL outlives every session and is never cleaned up: none may be left, whatever the test did
    (PTTL -1). Runs on the tests that take a deployment (`backend_name`), for the Redis ones."""
    backend_name = request.getfixturevalue("backend_name") if "backend_name" in request.fixturenames else "memory"
    yield
    if backend_name == "memory":
        return
    backend = backend_factory(request, backend_name)(key_prefix)
    redis = backend.primary if isinstance(backend, ResilientBackend) else backend
    assert isinstance(redis, RedisBackend)
    client: Any = redis.client  # replies are bytes; redis-py types them loosely
    try:
        forever = [key async for key in client.scan_iter(match=f"{key_prefix}:*") if await client.pttl(key) == -1]
    finally:
        await redis.close()
    assert forever == [], f"keys with no expiry: {forever}"
