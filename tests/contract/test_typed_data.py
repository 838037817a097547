"""Typed session data (the typed-json codec) on every backend and deployment: it comes back with its types through
every operation that carries data, an unchanged session writes nothing, and what cannot be stored is refused with
the store left as it was."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sessionhub import SessionDataError, SessionManager
from sessionhub.codecs import JSON, TYPED_JSON
from tests.support.managers import MakeManager

TYPED: dict[str, Any] = {
    "signed_in_at": datetime(2026, 12, 2, 6, 30, tzinfo=UTC),
    "birthday": date(1990, 5, 17),
    "grace": timedelta(minutes=15),
    "order": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "total": Decimal("19.90"),
    "position": (3, 4),
    "roles": {"admin", "editor"},
    "by_id": {1: "one", 2: "two"},
    "avatar": b"\x89PNG",
}


@pytest.fixture
async def typed(make_manager: MakeManager) -> SessionManager:
    return await make_manager(session_ttl=600, absolute_ttl=3600, data_codec="typed-json")


async def test_typed_data_comes_back_with_its_types(typed: SessionManager) -> None:
    assert typed.codec is TYPED_JSON
    created = await typed.create(data=TYPED)

    loaded = await typed.get(created.token)

    assert loaded is not None
    assert loaded.data == TYPED
    assert {key: type(value) for key, value in loaded.data.items()} == {
        key: type(value) for key, value in TYPED.items()
    }


async def test_saving_login_and_rotation_carry_typed_data(typed: SessionManager) -> None:
    session = await typed.create(data={"cart": (1, 2)})
    session.data["seen"] = {uuid.UUID(int=1)}
    await typed.save(session)

    signed_in = await typed.login(session.token, "alice", data={"since": date(2026, 1, 1)})
    rotated = await typed.rotate(signed_in.token)

    loaded = await typed.get(rotated.token)
    assert loaded is not None
    assert loaded.data == {"cart": (1, 2), "seen": {uuid.UUID(int=1)}, "since": date(2026, 1, 1)}


async def test_an_unchanged_typed_session_writes_nothing(typed: SessionManager) -> None:
    created = await typed.create(data=TYPED)
    loaded = await typed.get(created.token)
    assert loaded is not None

    assert loaded.data.unchanged(typed.settings.max_data_bytes)
    loaded.data["roles"].add("viewer")
    assert not loaded.data.unchanged(typed.settings.max_data_bytes)
    await typed.save(loaded)

    again = await typed.get(created.token)
    assert again is not None
    assert again.data["roles"] == {"admin", "editor", "viewer"}


async def test_what_typed_json_cannot_store_is_refused_and_nothing_is_written(typed: SessionManager) -> None:
    session = await typed.create(data={"kept": Decimal("1.0")})
    session.data["kept"] = Decimal("2.0")
    session.data["bad"] = object()

    with pytest.raises(SessionDataError, match="session data key 'bad'"):
        await typed.save(session)
    with pytest.raises(SessionDataError, match="session data key 'bad'"):
        await typed.create(data={"bad": float("nan")})

    loaded = await typed.get(session.token)
    assert loaded is not None
    assert loaded.data == {"kept": Decimal("1.0")}
    sessions, _ = await typed.browse_sessions()
    assert [found.id for found in sessions] == [session.id]


async def test_a_plain_json_manager_reads_typed_data_as_its_json(make_manager: MakeManager) -> None:
    """Services sharing sessions should share a codec; one that does not still reads the data, in its stored form."""
    typed = await make_manager(data_codec="typed-json")
    plain = SessionManager(typed.backend, typed.settings, codec=JSON)
    created = await typed.create(data={"when": date(2026, 1, 1), "n": 1})

    loaded = await plain.get(created.token)

    assert loaded is not None
    assert loaded.data == {"when": {"$date": "2026-01-01"}, "n": 1}


async def test_a_codec_given_to_the_manager_wins_over_the_setting(make_manager: MakeManager) -> None:
    manager = await make_manager(data_codec="typed-json")
    plain = SessionManager(manager.backend, manager.settings, codec=JSON)
    with pytest.raises(SessionDataError, match="typed-json"):
        await plain.create(data={"when": date(2026, 1, 1)})
