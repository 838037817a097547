"""Fixtures of the Redis backend's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_servers import RedisServer


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of the test's own, for faults (and flushes) that would disturb other tests on the shared one."""
    server = RedisServer.start()
    yield server
    server.stop()
