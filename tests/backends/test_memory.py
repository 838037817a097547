"""What only the memory backend can show: expired sessions do not pile up, and records never alias callers."""

from __future__ import annotations

import pytest

from sessionhub import SessionManager, Settings
from sessionhub.backends import MemoryBackend, memory
from sessionhub.backends.memory import SWEEP_BATCH
from tests.support.clock import FakeClock


async def test_expired_sessions_are_swept_by_later_writes() -> None:
    clock = FakeClock()
    backend = MemoryBackend()
    manager = SessionManager(backend, Settings(session_ttl=60), clock=clock)
    for _ in range(SWEEP_BATCH * 3):
        await manager.create()
    clock.advance(61)

    for _ in range(3):
        await manager.create()

    # Three writes swept three batches; only the sessions created after the clock moved remain.
    assert len(backend._sessions) == 3
    assert len(backend._deadlines) == 3


async def test_sliding_sessions_survive_the_sweep() -> None:
    clock = FakeClock()
    backend = MemoryBackend()
    manager = SessionManager(backend, Settings(session_ttl=60), clock=clock)
    kept = await manager.create(user_id="alice")
    for _ in range(10):
        await manager.create()
    clock.advance(50)
    assert await manager.get(kept.token) is not None
    clock.advance(20)

    assert (await manager.stats())["active_sessions"] == 1
    assert await manager.get(kept.token) is not None
    assert set(backend._user_sessions) == {"alice"}


async def test_returned_sessions_do_not_alias_the_store() -> None:
    manager = SessionManager(MemoryBackend())
    session = await manager.create(data={"cart": [1]})
    loaded = await manager.get(session.token)
    assert loaded is not None
    loaded.data["cart"].append(2)  # changed but not saved

    again = await manager.get(session.token)
    assert again is not None
    assert again.data == {"cart": [1]}


async def test_expired_rotation_markers_are_swept_by_later_writes() -> None:
    """Under churn (sessions rotated, then never seen again) memory stays bounded by what is still live."""
    clock = FakeClock()
    backend = MemoryBackend()
    manager = SessionManager(backend, Settings(session_ttl=5, absolute_ttl=10), clock=clock)
    for _ in range(300):
        session = await manager.create()
        await manager.rotate(session.token)
    assert len(backend._rotations) == 300
    clock.advance(11)  # every marker's session has passed its absolute deadline
    for _ in range(10):
        await manager.create()
    assert len(backend._rotations) == 0
    assert len(backend._rotation_deadlines) == 0


async def test_security_logs_and_rotation_markers_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "MAX_ROTATION_MARKERS", 10)
    clock = FakeClock()
    backend = MemoryBackend()
    manager = SessionManager(backend, Settings(security_log_ttl=60, security_log_max_events=4), clock=clock)
    for number in range(50):
        session = await manager.create(user_id=f"user{number}")
        for _ in range(3):
            session = await manager.rotate(session.token)
    assert len(backend._rotations) == 10
    assert max(len(log.events) for log in backend._logs.values()) == 4
    clock.advance(61)
    await manager.create(user_id="late")
    assert list(backend._logs) == ["late"]
