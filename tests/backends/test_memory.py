"""What only the memory backend can show: expired sessions do not pile up, and records never alias callers."""

from __future__ import annotations

from sessionhub import SessionManager, Settings
from sessionhub.backends import MemoryBackend
from sessionhub.backends.memory import SWEEP_BATCH
from tests.conftest import FakeClock


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
