"""Conversations and demo sessions: the same contract on every backend, through the public SessionManager API."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from sessionhub import SessionDataError, SessionManager, SessionNotFound
from sessionhub.backends import MemoryBackend, RedisBackend, ResilientBackend, SessionBackend
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager, store_of

IDLE = 600


async def stored_message_lists(manager: SessionManager) -> int:
    """How many message lists the store holds, whatever their session's state: nothing may linger."""
    return await message_lists_in(store_of(manager))


async def message_lists_in(backend: SessionBackend) -> int:
    if isinstance(backend, ResilientBackend):
        return await message_lists_in(backend.primary) + await message_lists_in(backend.fallback)
    if isinstance(backend, MemoryBackend):
        return len(backend._messages)
    assert isinstance(backend, RedisBackend)
    return len([key async for key in backend.client.scan_iter(match=f"{backend.keys.prefix}:*:c:*")])


async def contents(manager: SessionManager, token: str | None, **options: Any) -> list[str]:
    assert token is not None
    return [message.content for message in await manager.get_messages(token, **options)]


async def test_messages_come_back_in_order_with_role_and_time(manager: SessionManager, clock: FakeClock) -> None:
    session = await manager.create_demo_session(industry="tour-operator")
    assert session.token is not None

    assert await manager.add_message(session.token, "system", "You are a travel assistant.") == 1
    clock.advance(5)
    assert await manager.add_message(session.token, "user", "When should I visit Luxor?") == 2
    assert await manager.add_message(session.token, "assistant", "October to April.") == 3

    messages = await manager.get_messages(session.token)
    assert [(m.role, m.content) for m in messages] == [
        ("system", "You are a travel assistant."),
        ("user", "When should I visit Luxor?"),
        ("assistant", "October to April."),
    ]
    assert messages[1].created_at - messages[0].created_at == timedelta(seconds=5)
    assert messages[0].created_at == session.created_at
    assert await contents(manager, session.token, limit=2) == ["When should I visit Luxor?", "October to April."]
    assert await contents(manager, session.token, limit=0) == []
    assert await contents(manager, session.token, limit=50) == await contents(manager, session.token)


async def test_any_session_can_hold_a_conversation(manager: SessionManager) -> None:
    session = await manager.create(user_id="amira")
    assert session.token is not None
    await manager.add_message(session.token, "user", "Salam")
    assert await contents(manager, session.token) == ["Salam"]
    assert await manager.demo_status(session.token) is None


async def test_the_cap_keeps_the_newest_messages(make_manager: MakeManager) -> None:
    manager = await make_manager(max_messages=5)
    session = await manager.create_demo_session(industry="hotel")
    assert session.token is not None

    lengths = [await manager.add_message(session.token, "user", f"m{i}") for i in range(8)]

    assert lengths == [1, 2, 3, 4, 5, 5, 5, 5]
    assert await contents(manager, session.token) == ["m3", "m4", "m5", "m6", "m7"]
    status = await manager.demo_status(session.token)
    assert status is not None
    assert status.messages == 5


async def test_concurrent_appends_lose_no_message(manager: SessionManager) -> None:
    session = await manager.create_demo_session(industry="cruise")
    token = session.token
    assert token is not None

    lengths = await asyncio.gather(*(manager.add_message(token, "user", f"message {i}") for i in range(60)))

    assert sorted(lengths) == list(range(1, 61))
    assert sorted(await contents(manager, token)) == sorted(f"message {i}" for i in range(60))


@pytest.mark.parametrize(
    ("role", "content"),
    [
        ("robot", "hello"),
        ("USER", "hello"),
        (None, "hello"),
        ("user", ""),
        ("user", "   \n"),
        ("user", None),
        ("user", b"bytes"),
        ("user", 42),
        ("user", "x" * 101),
        ("user", "lone surrogate \ud800"),
    ],
)
async def test_bad_messages_raise_and_store_nothing(
    make_manager: MakeManager, clock: FakeClock, role: Any, content: Any
) -> None:
    manager = await make_manager(max_message_length=100)
    session = await manager.create_demo_session(industry="diving")
    assert session.token is not None
    await manager.add_message(session.token, "user", "kept")
    before = await manager.get(session.token)
    clock.advance(10)

    with pytest.raises(SessionDataError):
        await manager.add_message(session.token, role, content)

    assert await contents(manager, session.token) == ["kept"]
    after = await manager.get(session.token)
    assert before is not None
    assert after is not None
    assert after.data == before.data


async def test_content_at_the_length_limit_is_kept(make_manager: MakeManager) -> None:
    manager = await make_manager(max_message_length=100)
    session = await manager.create_demo_session(industry="diving")
    assert session.token is not None
    await manager.add_message(session.token, "user", "ü" * 100)
    assert await contents(manager, session.token) == ["ü" * 100]


@pytest.mark.parametrize("limit", [-1, 1.5, "3", True])
async def test_bad_limits_are_refused(manager: SessionManager, limit: Any) -> None:
    session = await manager.create_demo_session(industry="hotel")
    assert session.token is not None
    with pytest.raises(SessionDataError):
        await manager.get_messages(session.token, limit=limit)


@pytest.mark.parametrize("token", [None, "", "malformed", "0" * 45])
async def test_messages_need_a_live_session(manager: SessionManager, token: Any) -> None:
    with pytest.raises(SessionNotFound):
        await manager.add_message(token, "user", "hello")
    with pytest.raises(SessionNotFound):
        await manager.get_messages(token)
    assert await manager.demo_status(token) is None
    assert await stored_message_lists(manager) == 0


async def test_appending_slides_the_idle_deadline(manager: SessionManager, clock: FakeClock) -> None:
    session = await manager.create(data={"x": 1})
    assert session.token is not None
    for _ in range(4):
        clock.advance(IDLE * 0.9)
        await manager.add_message(session.token, "user", "still here")
    assert await manager.get(session.token) is not None


async def test_rotation_moves_the_messages(manager: SessionManager) -> None:
    session = await manager.create_demo_session(industry="hotel", user_id="amira")
    assert session.token is not None
    await manager.add_message(session.token, "user", "one")
    await manager.add_message(session.token, "assistant", "two")

    rotated = await manager.rotate(session.token)

    assert await contents(manager, rotated.token) == ["one", "two"]
    with pytest.raises(SessionNotFound):
        await manager.add_message(session.token, "user", "through the old token")
    assert await stored_message_lists(manager) == 1


async def test_login_carries_the_conversation_of_an_anonymous_demo(manager: SessionManager) -> None:
    anonymous = await manager.create_demo_session(industry="travel-agency")
    assert anonymous.token is not None
    await manager.add_message(anonymous.token, "user", "Is Siwa worth the trip?")
    await manager.set_progress(anonymous.token, step=2, total=5, status="in_progress")

    signed_in = await manager.login(anonymous.token, "amira")

    assert signed_in.kind == "demo"
    assert await contents(manager, signed_in.token) == ["Is Siwa worth the trip?"]
    status = await manager.demo_status(signed_in.token)
    assert status is not None
    assert (status.user_id, status.industry, status.messages, status.step, status.status) == (
        "amira",
        "travel-agency",
        1,
        2,
        "in_progress",
    )
    assert await stored_message_lists(manager) == 1


async def test_login_as_someone_else_drops_the_conversation(manager: SessionManager) -> None:
    alice = await manager.create_demo_session(industry="hotel", user_id="alice")
    assert alice.token is not None
    await manager.add_message(alice.token, "user", "private")

    bob = await manager.login(alice.token, "bob")

    assert await contents(manager, bob.token) == []
    assert await stored_message_lists(manager) == 0


@pytest.mark.parametrize("end", ["delete", "revoke", "revoke_user", "evict", "expire", "absolute"])
async def test_every_way_a_session_ends_takes_its_messages(
    make_manager: MakeManager, clock: FakeClock, end: str
) -> None:
    manager = await make_manager(session_ttl=IDLE, demo_ttl=IDLE, absolute_ttl=IDLE * 2, max_sessions_per_user=1)
    session = await manager.create_demo_session(industry="cruise", user_id="amira")
    token = session.token
    assert token is not None
    await manager.add_message(token, "user", "hello")
    assert await stored_message_lists(manager) == 1

    if end == "delete":
        await manager.delete(token)
    elif end == "revoke":
        await manager.revoke(session.id)
    elif end == "revoke_user":
        await manager.revoke_user_sessions("amira")
    elif end == "evict":
        await manager.create(user_id="amira")
    elif end == "expire":
        clock.advance(IDLE + 1)
        assert await manager.get(token) is None
    else:
        for _ in range(2):
            clock.advance(IDLE * 0.7)
            await manager.add_message(token, "user", "keeps it active")
        clock.advance(IDLE * 0.7)
        with pytest.raises(SessionNotFound):
            await manager.add_message(token, "user", "past the absolute timeout")

    assert await stored_message_lists(manager) == 0
    with pytest.raises(SessionNotFound):
        await manager.get_messages(token)


async def test_demo_sessions_have_their_own_idle_timeout(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(session_ttl=100, demo_ttl=1000, absolute_ttl=5000)
    demo = await manager.create_demo_session(industry="hotel")
    plain = await manager.create()

    assert demo.kind == "demo"
    assert demo.expires_at - demo.created_at == timedelta(seconds=1000)
    clock.advance(500)
    assert await manager.get(plain.token) is None
    assert await manager.get(demo.token) is not None


async def test_demo_status_and_progress(manager: SessionManager, clock: FakeClock) -> None:
    session = await manager.create_demo_session(industry="tour-operator", user_id="amira")
    token = session.token
    assert token is not None

    status = await manager.demo_status(token)
    assert status is not None
    assert (status.session_id, status.industry, status.messages) == (session.id, "tour-operator", 0)
    assert (status.step, status.total, status.status) == (0, 0, "new")
    assert status.created_at == status.last_active_at == session.created_at

    clock.advance(30)
    await manager.add_message(token, "user", "Hi")
    await manager.set_progress(token, step=3, total=5, status="in_progress")
    status = await manager.demo_status(token)
    assert status is not None
    assert (status.messages, status.step, status.total, status.status) == (1, 3, 5, "in_progress")
    assert status.last_active_at - status.created_at == timedelta(seconds=30)

    await manager.set_progress(token, step=5, total=5, status="completed")
    status = await manager.demo_status(token)
    assert status is not None
    assert (status.step, status.status) == (5, "completed")


@pytest.mark.parametrize(
    ("step", "total", "status"),
    [(-1, 5, "ok"), (6, 5, "ok"), (0, 0, "ok"), (True, 5, "ok"), (1, "5", "ok"), (1, 5, ""), (1, 5, "Done"), (1, 5, 9)],
)
async def test_bad_progress_raises_and_changes_nothing(
    manager: SessionManager, step: Any, total: Any, status: Any
) -> None:
    session = await manager.create_demo_session(industry="hotel")
    assert session.token is not None
    await manager.set_progress(session.token, step=1, total=4, status="in_progress")

    with pytest.raises(SessionDataError):
        await manager.set_progress(session.token, step=step, total=total, status=status)

    status_now = await manager.demo_status(session.token)
    assert status_now is not None
    assert (status_now.step, status_now.total, status_now.status) == (1, 4, "in_progress")


async def test_progress_is_for_live_demo_sessions_only(manager: SessionManager) -> None:
    plain = await manager.create(data={"x": 1})
    assert plain.token is not None
    with pytest.raises(SessionDataError):
        await manager.set_progress(plain.token, step=1, total=2, status="in_progress")
    loaded = await manager.get(plain.token)
    assert loaded is not None
    assert loaded.data == {"x": 1}

    demo = await manager.create_demo_session(industry="hotel")
    assert demo.token is not None
    await manager.delete(demo.token)
    with pytest.raises(SessionNotFound):
        await manager.set_progress(demo.token, step=1, total=2, status="in_progress")
    assert await manager.demo_status(demo.token) is None


@pytest.mark.parametrize("industry", ["", "   ", None, 7, "x" * 65])
async def test_bad_industries_are_refused(manager: SessionManager, industry: Any) -> None:
    with pytest.raises(SessionDataError):
        await manager.create_demo_session(industry=industry)
    assert (await manager.stats())["active_sessions"] == 0


async def test_a_replayed_append_is_made_once_and_is_no_activity(manager: SessionManager, clock: FakeClock) -> None:
    """What makes handing messages over after an outage idempotent (the backend contract, below the manager)."""
    session = await manager.create_demo_session(industry="hotel")
    assert session.token is not None
    await manager.add_message(session.token, "user", "first")
    message = b'{"r":"user","c":"replayed","t":%d}' % int(clock.now * 1000)
    clock.advance(60)
    now = int(clock.now * 1000)

    lengths = [await store_of(manager).append_message(session.id, message, 10, now, replay=True) for _ in range(3)]

    assert lengths == [2, 2, 2]
    loaded = await manager.backend.peek(session.id, now)
    assert loaded is not None
    assert loaded.last_active_at == now - 60_000  # the replay did not count as activity
    assert await contents(manager, session.token) == ["first", "replayed"]
    assert await store_of(manager).append_message(session.id, message, 10, now) == 3  # not a replay: appended
