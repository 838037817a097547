"""Decoding legacy records: times, field maps, and the reasons given for what cannot be read. Pure, no I/O."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sessionhub.legacy import legacy_alias_id
from sessionhub.migrate import FieldMap, FlaskSessionSource, KeySpace, LegacyRecord, RecordError
from sessionhub.migrate.records import parse_time, session_from_document
from sessionhub.migrate.report import record_hint

TOKEN = "legacy-cookie-value-0123456789"


def record(value: bytes = b"{}", ttl_ms: int | None = 60_000) -> LegacyRecord:
    alias_id = legacy_alias_id(TOKEN)
    assert alias_id is not None
    return LegacyRecord(b"p:" + TOKEN.encode(), TOKEN, alias_id, value, "digest", ttl_ms, read_at=1_000_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (1_700_000_000, 1_700_000_000_000),
        (1_700_000_000.25, 1_700_000_000_250),
        (1_700_000_000_123, 1_700_000_000_123),
        ("2026-11-23T10:00:00", 1_795_428_000_000),
        ("2026-11-23T10:00:00Z", 1_795_428_000_000),
        ("2026-11-23T12:00:00+02:00", 1_795_428_000_000),
    ],
)
def test_times(value: Any, expected: int | None) -> None:
    assert parse_time(value, "t") == expected


@pytest.mark.parametrize("value", [True, -5, float("nan"), "next tuesday", [2026], {"at": 1}])
def test_what_is_not_a_time(value: Any) -> None:
    with pytest.raises(RecordError, match=r"^t "):
        parse_time(value, "t")


def test_field_map_parse_and_errors() -> None:
    fields = FieldMap.parse(["user_id=uid,user", "data="])
    assert fields.user_id == ("uid", "user")
    assert fields.data == ()
    assert fields.created_at == ("created_at",)
    for bad in ["colour=c", "user_id"]:
        with pytest.raises(ValueError, match="FIELD one of"):
            FieldMap.parse([bad])


def test_the_earlier_of_expiry_field_and_ttl_wins() -> None:
    session = session_from_document({"expires_at": 1_030}, FieldMap(), record(ttl_ms=60_000), kind="user")
    assert session.expires_at == 1_030_000
    session = session_from_document({}, FieldMap(), record(ttl_ms=None), kind="user")
    assert session.expires_at is None


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"session_id": "someone-else-entirely"}, "does not match the id in its key"),
        ({"data": [1]}, "data field is a list"),
        ({"data": {"a": 1}, "a": 2}, "both a top-level field and a data key"),
        ({"user_id": {"id": 1}}, "user_id is a dict"),
    ],
)
def test_documents_that_cannot_be_read(document: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        session_from_document(document, FieldMap(), record(), kind="user")


def test_numeric_user_ids_become_strings_and_unknown_fields_stay_as_data() -> None:
    session = session_from_document(
        {"user_id": 42, "locale": "el", "data": {"cart": []}}, FieldMap(), record(), kind="user"
    )
    assert session.user_id == "42"
    assert session.data == {"cart": [], "locale": "el"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x93\x01\x02\x03", "decodes to a list"),
        (b"\xc1", "neither msgpack nor JSON"),
        (b"\x81\x01\x02", "keys that are not strings"),
    ],
)
def test_flask_session_values_that_cannot_be_read(value: bytes, reason: str) -> None:
    source = FlaskSessionSource()
    with pytest.raises(RecordError, match=reason):
        source.decode(record(value), KeySpace("session:"))


def test_key_spaces_escape_glob_characters_and_refuse_an_empty_prefix() -> None:
    assert KeySpace("app[1]:*?").pattern() == r"app\[1\]:\*\?*"
    with pytest.raises(ValueError, match="prefix is required"):
        KeySpace("")


def test_a_record_hint_names_what_an_operator_can_find_and_never_the_cookie() -> None:
    value = orjson.dumps({"session_id": TOKEN, "user_id": "amira", "created_at": "2026-11-20T09:00:00", "data": 1})

    hint = record_hint(value, 90_500, "3f2a9c41d0e2aa77")

    assert hint == f"user amira, created 2026-11-20T09:00:00, {len(value)} bytes, TTL 90 s, sha1 3f2a9c41d0e2"
    assert TOKEN not in hint
    assert record_hint(b"\x00not json", -1, None) == "9 bytes, no TTL"
    assert record_hint([b"hash"], 5_000, None) == "a hash key, TTL 5 s"
    assert record_hint(orjson.dumps({"user_id": True, "created_at": ["x"]}), -1, None).startswith("3")
