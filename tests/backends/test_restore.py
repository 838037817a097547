"""The contract's write-back primitives (`restore`, `instance`), on every backend: what ResilientBackend replays."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from sessionhub import Session, SessionManager, Settings
from sessionhub.backends import MemoryBackend
from sessionhub.model import SessionRecord
from sessionhub.tokens import session_id_for
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager, store_of


@pytest.fixture
async def target(make_manager: MakeManager) -> SessionManager:
    return await make_manager(session_ttl=600, absolute_ttl=3600)


async def kept_elsewhere(clock: FakeClock, **create: object) -> tuple[str, SessionRecord]:
    """A session made in another store (as ResilientBackend's fallback makes them): its token and record."""
    elsewhere = SessionManager(MemoryBackend(), Settings(session_ttl=600, absolute_ttl=3600), clock=clock)
    session = await elsewhere.create(**create)  # type: ignore[arg-type]
    record = await elsewhere.backend.peek(session.id, int(clock() * 1000))
    assert record is not None
    assert session.token is not None
    return session.token, record


def now(clock: FakeClock) -> int:
    return int(clock() * 1000)


async def test_restore_writes_a_session_the_store_lacks(target: SessionManager, clock: FakeClock) -> None:
    token, record = await kept_elsewhere(clock, user_id="alice", data={"cart": [1]})

    written = await store_of(target).restore(
        record, now(clock), data_changed=True, replaces=None, if_replaced_exists=False
    )

    assert written is True
    loaded = await target.get(token)
    assert loaded is not None
    assert (loaded.user_id, loaded.data) == ("alice", {"cart": [1]})
    assert [s.id for s in await target.list_user_sessions("alice")] == [record.id]
    assert (await target.stats())["active_sessions"] == 1
    # Idempotent: the same write again leaves the same single session.
    await store_of(target).restore(record, now(clock), data_changed=True, replaces=None, if_replaced_exists=False)
    assert (await target.stats())["active_sessions"] == 1
    again = await target.get(token)
    assert again is not None
    assert again.data == {"cart": [1]}


async def test_a_copy_at_least_as_recent_wins(target: SessionManager, clock: FakeClock) -> None:
    stored = await target.create(data={"n": 1})
    clock.advance(60)
    newer = await target.get(stored.token)  # the touch interval has passed: this read slides
    assert newer is not None
    record = await stale_record(target, stored, clock, data={"n": "stale"}, active_seconds_ago=2)

    assert (
        await store_of(target).restore(record, now(clock), data_changed=True, replaces=None, if_replaced_exists=False)
        is False
    )
    loaded = await target.get(stored.token)
    assert loaded is not None
    assert loaded.data == {"n": 1}


@pytest.mark.parametrize("data_changed", [True, False])
async def test_a_newer_record_moves_the_deadline_and_brings_its_data_only_if_changed(
    target: SessionManager, clock: FakeClock, data_changed: bool
) -> None:
    stored = await target.create(data={"n": 1, "gone": True})
    clock.advance(500)
    record = await stale_record(target, stored, clock, data={"n": 2}, active_seconds_ago=0)

    assert await store_of(target).restore(
        record, now(clock), data_changed=data_changed, replaces=None, if_replaced_exists=False
    )

    clock.advance(550)  # past the old idle deadline (600 s after creation), within the restored one
    loaded = await target.get(stored.token)
    assert loaded is not None
    assert loaded.data == ({"n": 2} if data_changed else {"n": 1, "gone": True})


async def test_restore_replaces_an_earlier_id_only_when_it_is_still_live(
    target: SessionManager, clock: FakeClock
) -> None:
    before = await target.create(user_id="alice", data={"k": "v"})
    rotated_token, rotated = await rotated_elsewhere(target, before, clock)

    assert await store_of(target).restore(
        rotated, now(clock), data_changed=True, replaces=before.id, if_replaced_exists=True
    )

    assert await target.get(before.token) is None
    loaded = await target.get(rotated_token)
    assert loaded is not None
    assert loaded.data == {"k": "v"}
    assert [s.id for s in await target.list_user_sessions("alice")] == [rotated.id]


async def test_restore_never_brings_back_a_session_ended_meanwhile(target: SessionManager, clock: FakeClock) -> None:
    before = await target.create(user_id="alice")
    rotated_token, rotated = await rotated_elsewhere(target, before, clock)
    await target.revoke(before.id)  # ended here while the other store held its rotated copy

    assert (
        await store_of(target).restore(
            rotated, now(clock), data_changed=True, replaces=before.id, if_replaced_exists=True
        )
        is False
    )
    assert await target.get(rotated_token) is None
    assert await target.list_user_sessions("alice") == []

    same_id = await target.create(user_id="bob")
    record = await stale_record(target, same_id, clock, data={}, active_seconds_ago=-1)
    await target.delete(same_id.token)
    assert (
        await store_of(target).restore(
            record, now(clock), data_changed=True, replaces=same_id.id, if_replaced_exists=True
        )
        is False
    )
    assert await target.get(same_id.token) is None


async def test_an_expired_record_is_never_written(target: SessionManager, clock: FakeClock) -> None:
    token, record = await kept_elsewhere(clock, data={"x": 1})
    clock.advance(601)
    assert (
        await store_of(target).restore(record, now(clock), data_changed=True, replaces=None, if_replaced_exists=False)
        is False
    )
    assert await target.get(token) is None
    assert (await target.stats())["active_sessions"] == 0


async def test_instance_is_stable_while_the_store_runs(target: SessionManager) -> None:
    first = await store_of(target).instance()
    assert first
    assert await store_of(target).instance() == first


async def stale_record(
    manager: SessionManager, session: Session, clock: FakeClock, *, data: dict[str, object], active_seconds_ago: float
) -> SessionRecord:
    """The session as another store would hold it: other data, last active `active_seconds_ago`."""
    assert session.token is not None
    active = now(clock) - int(active_seconds_ago * 1000)
    idle = int(manager.settings.session_ttl * 1000)
    created = int(session.created_at.timestamp() * 1000)
    absolute = int(session.absolute_expires_at.timestamp() * 1000)
    return SessionRecord(
        id=session.id,
        user_id=session.user_id,
        kind=session.kind,
        created_at=created,
        last_active_at=active,
        expires_at=min(active + idle, absolute),
        absolute_expires_at=absolute,
        idle_ttl=idle,
        client=session.client,
        data={key: orjson.dumps(value) for key, value in data.items()},
    )


async def rotated_elsewhere(manager: SessionManager, session: Session, clock: FakeClock) -> tuple[str, SessionRecord]:
    """The session rotated in another store: a new token in the same bucket, same record, one second later."""
    assert session.token is not None
    clock.advance(1)
    new_token = session.token[:2] + ("A" if session.token[2] != "A" else "B") + session.token[3:]
    new_id = session_id_for(new_token)
    assert new_id is not None
    record = await stale_record(manager, session, clock, data=dict(session.data), active_seconds_ago=0)
    return new_token, replace(record, id=new_id)


async def test_a_copy_past_its_deadline_was_not_ended_and_takes_the_record(
    target: SessionManager, clock: FakeClock
) -> None:
    stored = await target.create(data={"n": 1})
    clock.advance(601)  # past the idle deadline here; elsewhere the outage kept the session in use
    record = await stale_record(target, stored, clock, data={"n": 2}, active_seconds_ago=1)

    assert await store_of(target).restore(
        record, now(clock), data_changed=True, replaces=stored.id, if_replaced_exists=True
    )

    loaded = await target.get(stored.token)
    assert loaded is not None
    assert loaded.data == {"n": 2}
