"""Sync managers on memory, one Redis (alone and behind the outage fallback) and Redis Cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sessionhub import SessionManager, Settings
from sessionhub.sync import SyncSessionManager
from tests.support.deployments import backend_factory

MakeSync = Callable[..., SyncSessionManager]


@pytest.fixture(params=["memory", "redis", "resilient", "cluster"])
def sync_backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_sync(request: pytest.FixtureRequest, sync_backend: str, key_prefix: str) -> Iterator[MakeSync]:
    """Sync managers on the test's deployment with the given settings; all are closed afterwards."""
    factory = backend_factory(request, sync_backend)
    made: list[SyncSessionManager] = []

    def make(**settings: Any) -> SyncSessionManager:
        config = Settings(key_prefix=key_prefix, **settings)
        sessions = SyncSessionManager(lambda: SessionManager(factory(key_prefix), config))
        made.append(sessions)
        return sessions

    yield make
    for sessions in made:
        sessions.close()
