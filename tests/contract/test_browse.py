"""Looking through every live session, a page at a time (operators, the CLI), on every backend."""

from __future__ import annotations

import pytest

from sessionhub import SessionDataError, SessionManager
from tests.support.clock import FakeClock


async def test_pages_cover_every_live_session_once_by_id(manager: SessionManager, clock: FakeClock) -> None:
    made = [await manager.create(user_id=f"u{i % 3}" if i % 2 else None) for i in range(23)]
    demo = await manager.create_demo_session(industry="hotel")
    ended = made.pop()
    await manager.delete(ended.token)

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page, after = await manager.browse_sessions(after=after, limit=5)
        pages += 1
        assert all(session.token is None for session in page)  # never a token
        seen += [session.id for session in page]
        if after is None:
            break
    assert seen == sorted([session.id for session in made] + [demo.id])
    assert pages == 5

    demos, _ = await manager.browse_sessions(kind="demo")
    assert [session.id for session in demos] == [demo.id]
    mine, after = await manager.browse_sessions(user_id="u1", limit=2)
    assert after is not None
    rest, last = await manager.browse_sessions(user_id="u1", after=after, limit=10)
    assert last is None
    assert {s.id for s in mine + rest} == {s.id for s in await manager.list_user_sessions("u1")}
    clock.advance(120)
    await manager.get(demo.token)  # active again
    idle, _ = await manager.browse_sessions(idle_for=100, limit=100)
    assert demo.id not in {session.id for session in idle}
    assert len(idle) == len(made)


async def test_expired_sessions_are_not_listed(manager: SessionManager, clock: FakeClock) -> None:
    await manager.create()
    clock.advance(manager.settings.session_ttl + 1)
    assert await manager.browse_sessions() == ([], None)


@pytest.mark.parametrize("bad", [{"limit": 0}, {"after": "not-an-id"}])
async def test_bad_paging_is_refused(manager: SessionManager, bad: dict[str, object]) -> None:
    with pytest.raises(SessionDataError):
        await manager.browse_sessions(**bad)  # type: ignore[arg-type]
