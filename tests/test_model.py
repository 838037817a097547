"""The stored form of session data."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from sessionhub.client import ClientInfo
from sessionhub.errors import SessionDataError
from sessionhub.model import Session, SessionData, SessionRecord, encode_value


def test_a_stored_value_costs_about_its_own_length() -> None:
    # orjson's bytes hold its whole 4 KiB write buffer; a store keeping one per key of every session would spend
    # forty times the data's size.
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [encode_value("cart", [{"sku": "SKU-100231", "qty": number}]) for number in range(200)]
        per_value = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert per_value < 256


# -- change detection: one encoding of the whole data for a request that changed nothing ---------------------------

STORED = {"cart": b'[{"sku":"A","qty":1}]', "theme": b'"dark"', "visits": b"3"}


def test_data_as_loaded_is_unchanged_and_has_nothing_to_write() -> None:
    data = SessionData(STORED)
    assert data.unchanged(10_000)
    assert not data.pending_changes(10_000)
    assert SessionData().unchanged(10_000)


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data["cart"].append({"sku": "B", "qty": 2}),  # nested, through the same list object
        lambda data: data["cart"][0].update(qty=2),
        lambda data: data.update(visits=4),
        lambda data: data.pop("theme"),
        lambda data: data.update(extra=None),
    ],
)
def test_any_change_even_nested_is_noticed(change: Callable[[SessionData], object]) -> None:
    data = SessionData(STORED)
    change(data)
    assert not data.unchanged(10_000)
    assert data.pending_changes(10_000)


def test_keys_moved_around_are_compared_key_by_key_and_write_nothing() -> None:
    data = SessionData(STORED)
    data["theme"] = data.pop("theme")
    assert not data.unchanged(10_000)  # the document differs in its order ...
    assert not data.pending_changes(10_000)  # ... but no key does


def test_values_that_cannot_be_stored_still_raise_with_the_key_named() -> None:
    data = SessionData(STORED)
    data["when"] = datetime.now(UTC)
    assert not data.unchanged(10_000)
    with pytest.raises(SessionDataError, match="'when'"):
        data.pending_changes(10_000)
    data = SessionData(STORED)
    data[1] = "x"  # type: ignore[index]
    assert not data.unchanged(10_000)
    with pytest.raises(SessionDataError, match="keys must be str"):
        data.pending_changes(10_000)


def test_data_over_the_size_limit_is_refused_even_unchanged() -> None:
    data = SessionData(STORED)
    assert not data.unchanged(20)  # max_data_bytes lowered since the data was stored
    with pytest.raises(SessionDataError, match="max_data_bytes"):
        data.pending_changes(20)


def test_after_a_save_changes_are_compared_key_by_key() -> None:
    data = SessionData(STORED)
    data["visits"] = 4
    changes = data.pending_changes(10_000)
    assert changes.updated == {"visits": b"4"}
    data.mark_saved(changes)
    assert not data.unchanged(10_000)
    assert not data.pending_changes(10_000)
    data["visits"] = 5
    assert data.pending_changes(10_000).updated == {"visits": b"5"}


def test_stored_data_too_deep_to_encode_again_is_compared_key_by_key() -> None:
    deep = b"[" * 300 + b"]" * 300  # orjson reads it but refuses to write it back
    data = SessionData({"deep": deep})
    assert not data.unchanged(10_000)
    with pytest.raises(SessionDataError, match="'deep'"):
        data.pending_changes(10_000)


# -- records and clients ------------------------------------------------------------------------------------------


def test_a_copied_record_has_every_field_and_its_own_data() -> None:
    record = SessionRecord(
        id="ab" * 17,
        user_id="amira",
        kind="user",
        created_at=1,
        last_active_at=2,
        expires_at=3,
        absolute_expires_at=4,
        idle_ttl=5,
        client=ClientInfo("192.0.2.1", "probe"),
        data={"theme": b'"dark"'},
    )
    for number, field in enumerate(fields(SessionRecord)):  # every field, including ones added later
        if field.name != "data":
            setattr(record, field.name, f"value {number}")
    copied = record.copy()
    assert copied == record
    copied.data["theme"] = b'"light"'
    assert record.data == {"theme": b'"dark"'}


def test_a_client_within_bounds_is_kept_as_it_is() -> None:
    client = ClientInfo("192.0.2.1", "probe/1.0")
    assert client.bounded() is client
    assert ClientInfo().bounded() == ClientInfo()
    assert ClientInfo("", "").bounded() == ClientInfo(None, None)
    long = ClientInfo("1" * 100, "u" * 1000).bounded()
    assert (len(long.ip or ""), len(long.user_agent or "")) == (
        ClientInfo.MAX_IP_LENGTH,
        ClientInfo.MAX_USER_AGENT_LENGTH,
    )


def test_session_times_are_utc_datetimes_of_the_record() -> None:
    record = SessionRecord("ab" * 17, None, "user", 1_000, 2_000, 3_000, 4_000, 5, ClientInfo(), {})
    session = Session(record, None)
    assert session.created_at == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert (session.last_active_at - session.created_at, session.expires_at - session.created_at) == (
        timedelta(seconds=1),
        timedelta(seconds=2),
    )
    assert session.absolute_expires_at.tzinfo is UTC


def test_clients_of_the_same_values_are_one_shared_bounded_object() -> None:
    first = ClientInfo.of("192.0.2.7", "probe/2.0")
    assert first is ClientInfo.of("192.0.2.7", "probe/2.0")
    assert first == ClientInfo("192.0.2.7", "probe/2.0")
    assert first.bounded() is first
    assert ClientInfo.of("", None) == ClientInfo()
    long = ClientInfo.of("1" * 100, "u" * 1000)
    assert long == ClientInfo("1" * 100, "u" * 1000).bounded()
