"""The contract every backend honours, run against each of them through the public SessionManager API."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from typing import Any

import pytest

from sessionhub import (
    ClientInfo,
    SessionDataError,
    SessionLimitExceeded,
    SessionManager,
    SessionNotFound,
)
from sessionhub.backends.base import ROTATED_AWAY
from sessionhub.model import DataChanges, SessionRecord
from sessionhub.tokens import bucket_for_user, new_token, session_id_for
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager

IDLE = 600
ABSOLUTE = 3600


async def test_create_then_get_returns_the_same_session(manager: SessionManager) -> None:
    client = ClientInfo(ip="203.0.113.7", user_agent="Mozilla/5.0 test")
    created = await manager.create(user_id="alice", data={"cart": [1, 2], "flag": True}, kind="user", client=client)

    loaded = await manager.get(created.token)

    assert loaded is not None
    assert loaded.id == created.id
    assert loaded.token == created.token
    assert (loaded.user_id, loaded.kind, loaded.client) == ("alice", "user", client)
    assert loaded.data == {"cart": [1, 2], "flag": True}
    assert loaded.created_at == created.created_at
    assert loaded.created_at.tzinfo is UTC
    assert loaded.absolute_expires_at - loaded.created_at == timedelta(seconds=ABSOLUTE)


async def test_tokens_are_long_random_and_distinct_from_ids(manager: SessionManager) -> None:
    sessions = [await manager.create() for _ in range(20)]
    tokens = {s.token for s in sessions}
    assert len(tokens) == 20
    for session in sessions:
        assert session.token is not None
        assert len(session.token) >= 43
        assert session.token not in session.id
        assert session.id not in session.token
        assert session.token not in repr(session)


@pytest.mark.parametrize(
    "token",
    ["", "x", "0" * 45, "zz" + "a" * 43, "00" + "a" * 42 + "!", "00" + "a" * 44, "a" * 10_000, None, 12345, b"00" * 23],
)
async def test_malformed_tokens_are_no_session(manager: SessionManager, token: Any) -> None:
    assert await manager.get(token) is None
    assert await manager.delete(token) is False


async def test_unknown_well_formed_token_is_no_session_and_never_adopted(manager: SessionManager) -> None:
    existing = await manager.create()
    assert existing.token is not None
    forged = existing.token[:2] + ("A" if existing.token[2] != "A" else "B") + existing.token[3:]

    assert await manager.get(forged) is None
    new = await manager.login(forged, "alice")

    assert new.token != forged
    assert await manager.get(forged) is None


async def test_idle_timeout_slides_on_every_read(manager: SessionManager, clock: FakeClock) -> None:
    session = await manager.create()
    for _ in range(5):
        clock.advance(IDLE * 0.9)
        assert await manager.get(session.token) is not None
    clock.advance(IDLE)
    assert await manager.get(session.token) is None


# -- the touch interval: a read slides the idle deadline only when a touch is due (SessionRecord.touch_due) -------


async def stored_deadlines(manager: SessionManager, session_id: str) -> tuple[Any, Any]:
    """Last activity and idle deadline as the store holds them (peek slides nothing)."""
    stored = await manager.peek(session_id)
    assert stored is not None
    return stored.last_active_at, stored.expires_at


async def test_a_read_within_the_touch_interval_slides_nothing(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(session_ttl=IDLE, absolute_ttl=ABSOLUTE, touch_interval=30)
    session = await manager.create()
    clock.advance(29)

    loaded = await manager.get(session.token)

    assert loaded is not None
    assert (loaded.last_active_at, loaded.expires_at) == (session.last_active_at, session.expires_at)
    assert await stored_deadlines(manager, session.id) == (session.last_active_at, session.expires_at)
    # Not slid, so the session ends one idle timeout after its creation, although it was read since.
    clock.advance(IDLE - 29)
    assert await manager.get(session.token) is None


async def test_a_read_once_the_touch_interval_has_passed_slides(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(session_ttl=IDLE, absolute_ttl=ABSOLUTE, touch_interval=30)
    session = await manager.create()
    clock.advance(30)

    loaded = await manager.get(session.token)

    assert loaded is not None
    assert loaded.last_active_at == session.last_active_at + timedelta(seconds=30)
    assert loaded.expires_at == loaded.last_active_at + timedelta(seconds=IDLE)
    assert await stored_deadlines(manager, session.id) == (loaded.last_active_at, loaded.expires_at)
    # The next interval counts from this slide: a read 29 s later writes nothing again.
    clock.advance(29)
    again = await manager.get(session.token)
    assert again is not None
    assert again.last_active_at == loaded.last_active_at
    clock.advance(IDLE - 30)  # 599 s after the slide: live
    assert await manager.get(session.token) is not None


async def test_touch_interval_zero_slides_on_every_read(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(session_ttl=IDLE, absolute_ttl=ABSOLUTE, touch_interval=0)
    session = await manager.create()
    previous = session.last_active_at
    for _ in range(3):
        clock.advance(0.25)  # a quarter of a second: a binary fraction, so exact milliseconds
        loaded = await manager.get(session.token)
        assert loaded is not None
        assert loaded.last_active_at == previous + timedelta(milliseconds=250)
        assert await stored_deadlines(manager, session.id) == (loaded.last_active_at, loaded.expires_at)
        previous = loaded.last_active_at


async def test_a_short_idle_timeout_caps_the_touch_interval_at_a_tenth(
    make_manager: MakeManager, clock: FakeClock
) -> None:
    manager = await make_manager(session_ttl=10, absolute_ttl=ABSOLUTE, touch_interval=60)
    session = await manager.create()
    clock.advance(0.5)
    loaded = await manager.get(session.token)
    assert loaded is not None
    assert loaded.last_active_at == session.last_active_at  # within a tenth of the 10 s timeout: not due

    clock.advance(0.5)  # a tenth of the idle timeout, not the 60 s interval, has passed
    loaded = await manager.get(session.token)
    assert loaded is not None
    assert loaded.last_active_at == session.last_active_at + timedelta(seconds=1)
    assert await stored_deadlines(manager, session.id) == (loaded.last_active_at, loaded.expires_at)
    # Read just under every tenth, the session never expires early by more than that tenth: it stays signed in.
    for _ in range(30):
        clock.advance(0.999)
        assert await manager.get(session.token) is not None


async def test_reading_a_conversation_follows_the_touch_interval(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(demo_ttl=IDLE, absolute_ttl=ABSOLUTE, touch_interval=30)
    session = await manager.create_demo_session(industry="hotel")
    assert session.token is not None
    await manager.add_message(session.token, "user", "hello")
    clock.advance(10)
    assert [message.content for message in await manager.get_messages(session.token)] == ["hello"]
    assert await stored_deadlines(manager, session.id) == (session.last_active_at, session.expires_at)
    clock.advance(20)
    status = await manager.demo_status(session.token)
    assert status is not None
    assert status.last_active_at == session.last_active_at + timedelta(seconds=30)
    assert await stored_deadlines(manager, session.id) == (status.last_active_at, status.expires_at)


async def test_writes_slide_whatever_the_touch_interval(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(session_ttl=IDLE, absolute_ttl=ABSOLUTE, touch_interval=30)
    session = await manager.create(data={"n": 0})
    clock.advance(1)
    loaded = await manager.get(session.token)
    assert loaded is not None
    loaded.data["n"] = 1
    await manager.save(loaded)
    last_active, _ = await stored_deadlines(manager, session.id)
    assert last_active == session.last_active_at + timedelta(seconds=1)


async def test_a_miss_tells_a_rotated_away_id_from_an_unknown_one(manager: SessionManager, clock: FakeClock) -> None:
    session = await manager.create(user_id="alice")
    assert session.token is not None
    rotated = await manager.rotate(session.token)
    now = int(clock.now * 1000)
    unknown = session.id[:2] + ("0" if session.id[2] != "0" else "1") + session.id[3:]

    assert await manager.backend.load(session.id, now) is ROTATED_AWAY
    assert await manager.backend.load(unknown, now) is None
    assert await manager.get(session.token) is None
    assert await manager.get(rotated.token) is not None


async def test_absolute_timeout_never_moves(manager: SessionManager, clock: FakeClock) -> None:
    session = await manager.create()
    elapsed = 0.0
    while elapsed + IDLE / 2 < ABSOLUTE:
        clock.advance(IDLE / 2)
        elapsed += IDLE / 2
        loaded = await manager.get(session.token)
        assert loaded is not None
        assert loaded.absolute_expires_at == session.absolute_expires_at
        assert loaded.expires_at <= loaded.absolute_expires_at
    clock.advance(ABSOLUTE - elapsed)
    assert await manager.get(session.token) is None


async def test_save_writes_changed_nested_and_removed_keys(manager: SessionManager) -> None:
    session = await manager.create(data={"cart": ["apple"], "old": 1, "same": "x"})
    loaded = await manager.get(session.token)
    assert loaded is not None

    loaded.data["cart"].append("pear")
    del loaded.data["old"]
    loaded.data["new"] = {"nested": [1, {"deep": None}]}
    assert await manager.save(loaded) is True
    assert await manager.save(loaded) is False

    again = await manager.get(session.token)
    assert again is not None
    assert again.data == {"cart": ["apple", "pear"], "same": "x", "new": {"nested": [1, {"deep": None}]}}


async def test_concurrent_saves_of_different_keys_all_survive(manager: SessionManager) -> None:
    session = await manager.create(data={"base": 0})
    copies = [await manager.get(session.token) for _ in range(20)]

    async def set_key(index: int) -> None:
        copy = copies[index]
        assert copy is not None
        copy.data[f"key{index}"] = index
        await manager.save(copy)

    await asyncio.gather(*(set_key(i) for i in range(20)))

    final = await manager.get(session.token)
    assert final is not None
    assert final.data == {"base": 0, **{f"key{i}": i for i in range(20)}}


@pytest.mark.parametrize("end", ["delete", "revoke", "rotate", "login", "expire"])
async def test_saving_an_ended_session_never_brings_it_back(
    manager: SessionManager, clock: FakeClock, end: str
) -> None:
    session = await manager.create(data={"n": 1})
    slow_request = await manager.get(session.token)
    assert slow_request is not None
    assert session.token is not None
    if end == "delete":
        await manager.delete(session.token)
    elif end == "revoke":
        await manager.revoke(session.id)
    elif end == "rotate":
        await manager.rotate(session.token)
    elif end == "login":
        await manager.login(session.token, "bob")
    else:
        clock.advance(IDLE + 1)

    slow_request.data["n"] = 2
    with pytest.raises(SessionNotFound):
        await manager.save(slow_request)
    assert await manager.get(session.token) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (__import__("datetime").datetime(2026, 1, 1), "JSON"),
        ((1, 2), "unchanged"),
        ({1, 2}, "JSON"),
        (math.nan, "unchanged"),
        ({1: "int key"}, "JSON"),
        (object(), "JSON"),
        (2**70, "JSON"),
    ],
)
async def test_data_that_cannot_be_stored_raises_and_writes_nothing(
    manager: SessionManager, value: Any, reason: str
) -> None:
    before = (await manager.stats())["active_sessions"]
    with pytest.raises(SessionDataError, match=reason):
        await manager.create(data={"bad": value})
    assert (await manager.stats())["active_sessions"] == before

    session = await manager.create(data={"good": 1})
    loaded = await manager.get(session.token)
    assert loaded is not None
    loaded.data["good"] = 2
    loaded.data["bad"] = value
    with pytest.raises(SessionDataError):
        await manager.save(loaded)
    stored = await manager.get(session.token)
    assert stored is not None
    assert stored.data == {"good": 1}


async def test_data_over_the_size_limit_raises_before_writing(make_manager: MakeManager) -> None:
    manager = await make_manager(max_data_bytes=1000)
    with pytest.raises(SessionDataError, match="max_data_bytes"):
        await manager.create(data={"blob": "x" * 1000})
    session = await manager.create(data={"blob": "x" * 900})
    loaded = await manager.get(session.token)
    assert loaded is not None
    loaded.data["more"] = "y" * 200
    with pytest.raises(SessionDataError, match="max_data_bytes"):
        await manager.save(loaded)
    stored = await manager.get(session.token)
    assert stored is not None
    assert set(stored.data) == {"blob"}


@pytest.mark.parametrize("bad", ["", "x" * 300, 42, None])
async def test_bad_user_ids_and_kinds_are_refused(manager: SessionManager, bad: Any) -> None:
    if bad is not None:
        with pytest.raises(SessionDataError):
            await manager.create(user_id=bad)
    with pytest.raises(SessionDataError):
        await manager.login(None, bad)
    with pytest.raises(SessionDataError):
        await manager.create(kind=bad if bad is not None else "Bad Kind")


async def test_rotate_moves_the_session_to_a_new_token(manager: SessionManager) -> None:
    session = await manager.create(user_id="alice", data={"k": "v"})
    assert session.token is not None

    rotated = await manager.rotate(session.token)

    assert rotated.token != session.token
    assert rotated.id != session.id
    assert await manager.get(session.token) is None
    loaded = await manager.get(rotated.token)
    assert loaded is not None
    assert (loaded.user_id, loaded.data, loaded.created_at) == ("alice", {"k": "v"}, session.created_at)
    assert loaded.absolute_expires_at == session.absolute_expires_at
    assert [s.id for s in await manager.list_user_sessions("alice")] == [rotated.id]
    with pytest.raises(SessionNotFound):
        await manager.rotate(session.token)
    with pytest.raises(SessionNotFound):
        await manager.rotate("not a token")


async def test_concurrent_rotations_of_one_token_succeed_once(manager: SessionManager) -> None:
    session = await manager.create(user_id="alice")
    assert session.token is not None
    token = session.token

    async def rotate() -> str | None:
        try:
            return (await manager.rotate(token)).token
        except SessionNotFound:
            return None

    results = await asyncio.gather(*(rotate() for _ in range(10)))
    winners = [token for token in results if token is not None]
    assert len(winners) == 1
    assert [s.id for s in await manager.list_user_sessions("alice")] == [
        (await manager.get(winners[0])).id  # type: ignore[union-attr]
    ]


async def test_login_issues_a_new_token_and_keeps_anonymous_data(manager: SessionManager, clock: FakeClock) -> None:
    anonymous = await manager.create(data={"cart": ["tea"]}, kind="demo")
    clock.advance(60)

    signed_in = await manager.login(anonymous.token, "alice", client=ClientInfo(ip="198.51.100.1"))

    assert signed_in.token != anonymous.token
    assert await manager.get(anonymous.token) is None
    loaded = await manager.get(signed_in.token)
    assert loaded is not None
    assert (loaded.user_id, loaded.kind, loaded.data) == ("alice", "demo", {"cart": ["tea"]})
    assert loaded.client.ip == "198.51.100.1"
    assert loaded.absolute_expires_at - loaded.created_at == timedelta(seconds=ABSOLUTE)
    assert loaded.created_at > anonymous.created_at


async def test_login_does_not_carry_another_users_data(manager: SessionManager) -> None:
    alice = await manager.create(user_id="alice", data={"secret": "alice's"})

    bob = await manager.login(alice.token, "bob")

    assert bob.data == {}
    assert await manager.get(alice.token) is None
    assert await manager.list_user_sessions("alice") == []


async def test_delete_and_revoke(manager: SessionManager) -> None:
    first = await manager.create(user_id="alice")
    second = await manager.create(user_id="alice")

    assert await manager.delete(first.token) is True
    assert await manager.delete(first.token) is False
    assert await manager.revoke(second.id) is True
    assert await manager.revoke(second.id) is False
    assert await manager.revoke("not-an-id") is False
    assert await manager.get(second.token) is None
    assert await manager.list_user_sessions("alice") == []


async def test_list_user_sessions_has_no_tokens_and_drops_expired(manager: SessionManager, clock: FakeClock) -> None:
    old = await manager.create(user_id="alice", client=ClientInfo(user_agent="old phone"))
    clock.advance(IDLE / 2)
    recent = await manager.create(user_id="alice", client=ClientInfo(user_agent="laptop"))
    await manager.create(user_id="bob")

    listed = await manager.list_user_sessions("alice")
    assert [s.id for s in listed] == [recent.id, old.id]
    assert all(s.token is None for s in listed)
    assert [s.client.user_agent for s in listed] == ["laptop", "old phone"]

    clock.advance(IDLE / 2 + 1)
    assert [s.id for s in await manager.list_user_sessions("alice")] == [recent.id]
    assert await manager.list_user_sessions("nobody") == []


async def test_revoke_user_sessions_everywhere_or_all_but_current(manager: SessionManager) -> None:
    sessions = [await manager.create(user_id="alice") for _ in range(4)]
    other = await manager.create(user_id="bob")

    assert await manager.revoke_user_sessions("alice", except_session_id=sessions[0].id) == 3
    assert [s.id for s in await manager.list_user_sessions("alice")] == [sessions[0].id]
    assert await manager.revoke_user_sessions("alice") == 1
    assert await manager.list_user_sessions("alice") == []
    assert await manager.get(other.token) is not None


async def test_limit_evicts_the_least_recently_active(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(max_sessions_per_user=3, limit_policy="evict_oldest", touch_interval=0)
    first = await manager.create(user_id="alice")
    clock.advance(1)
    second = await manager.create(user_id="alice")
    clock.advance(1)
    third = await manager.create(user_id="alice")
    clock.advance(1)
    assert await manager.get(first.token) is not None  # first is now more recent than second

    fourth = await manager.login(None, "alice")

    remaining = {s.id for s in await manager.list_user_sessions("alice")}
    assert remaining == {first.id, third.id, fourth.id}
    assert await manager.get(second.token) is None


async def test_limit_reject_refuses_and_keeps_everything(make_manager: MakeManager) -> None:
    manager = await make_manager(max_sessions_per_user=2, limit_policy="reject")
    kept = [await manager.create(user_id="alice") for _ in range(2)]
    anonymous = await manager.create(data={"cart": [1]})

    with pytest.raises(SessionLimitExceeded):
        await manager.create(user_id="alice")
    with pytest.raises(SessionLimitExceeded):
        await manager.login(anonymous.token, "alice")

    assert {s.id for s in await manager.list_user_sessions("alice")} == {s.id for s in kept}
    still_there = await manager.get(anonymous.token)
    assert still_there is not None
    assert still_there.data == {"cart": [1]}
    # Signing in again from a session the user already holds replaces it, so it fits under the limit.
    replaced = await manager.login(kept[0].token, "alice")
    assert {s.id for s in await manager.list_user_sessions("alice")} == {kept[1].id, replaced.id}


@pytest.mark.parametrize("policy", ["evict_oldest", "reject"])
async def test_concurrent_logins_respect_the_limit_exactly(make_manager: MakeManager, policy: str) -> None:
    manager = await make_manager(max_sessions_per_user=3, limit_policy=policy)

    async def login() -> bool:
        try:
            await manager.login(None, "alice")
        except SessionLimitExceeded:
            return False
        return True

    outcomes = await asyncio.gather(*(login() for _ in range(30)))

    assert len(await manager.list_user_sessions("alice")) == 3
    assert sum(outcomes) == (30 if policy == "evict_oldest" else 3)


async def test_stats_count_live_sessions(manager: SessionManager, clock: FakeClock) -> None:
    for _ in range(3):
        await manager.create()
    for _ in range(2):
        await manager.create(user_id="alice")
    stats = await manager.stats()
    assert stats["active_sessions"] == 5
    assert stats["session_ttl"] == IDLE
    assert stats["absolute_ttl"] == ABSOLUTE
    assert stats["backend"] in {"memory", "redis", "resilient"}

    clock.advance(IDLE + 1)
    assert (await manager.stats())["active_sessions"] == 0


async def test_health_reports_ok(manager: SessionManager) -> None:
    health = await manager.health()
    assert health["status"] == "ok"
    assert health["backend"] == manager.backend.name


LONE_SURROGATE = "\ud800"


async def test_text_no_store_can_keep_is_refused_before_anything_is_written(manager: SessionManager) -> None:
    """Lone surrogates have no UTF-8 form: every store refuses them alike, with SessionDataError, writing nothing."""
    session = await manager.create(user_id="ada", data={"kept": 1})
    refused: list[Callable[[], Awaitable[object]]] = [
        lambda: manager.create(user_id=LONE_SURROGATE),
        lambda: manager.login(None, "\udfff"),
        lambda: manager.login(session.token, f"ada{LONE_SURROGATE}"),
        lambda: manager.list_user_sessions(LONE_SURROGATE),
        lambda: manager.revoke_user_sessions("ada", except_session_id=LONE_SURROGATE),
        lambda: manager.create(data={"\udc00": 1}),
    ]
    for call in refused:
        with pytest.raises(SessionDataError):
            await call()
    loaded = await manager.get(session.token)
    assert loaded is not None
    loaded.data["\udc00"] = 1
    with pytest.raises(SessionDataError):
        await manager.save(loaded)
    again = await manager.get(session.token)
    assert again is not None
    assert again.data == {"kept": 1}
    assert [listed.id for listed in await manager.list_user_sessions("ada")] == [session.id]
    assert (await manager.stats())["active_sessions"] == 1


async def test_the_store_itself_refuses_text_it_cannot_keep(manager: SessionManager, clock: FakeClock) -> None:
    """The same check below the manager: a store called directly (as ResilientBackend calls its memory fallback)
    refuses what Redis cannot keep, so no outage journal ever holds it."""
    backend = manager.backend
    session = await manager.create(user_id="ada", data={"kept": 1})
    now = int(clock() * 1000)
    session_id = session_id_for(new_token(bucket_for_user("ada")))
    assert session_id is not None
    unstorable = SessionRecord.new(
        session_id, user_id=LONE_SURROGATE, kind="user", client=ClientInfo(), now=now, idle_ttl=60_000,
        absolute_ttl=60_000,
    )  # fmt: skip
    refused: list[Callable[[], Awaitable[object]]] = [
        lambda: backend.create(unstorable, None, now),
        lambda: backend.update(session.id, DataChanges(updated={"\udc00": b"1"}), now),
        lambda: backend.list_user(LONE_SURROGATE, now),
        lambda: backend.delete_user(LONE_SURROGATE, now),
    ]
    for call in refused:
        with pytest.raises(SessionDataError):
            await call()
    stored = await manager.get(session.token)
    assert stored is not None
    assert stored.data == {"kept": 1}
    assert (await manager.stats())["active_sessions"] == 1
