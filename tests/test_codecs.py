"""The data codecs (sessionhub.codecs): what each stores, that it comes back equal and of the same type, and what
is refused before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionhub import SessionDataError, Settings
from sessionhub.codecs import JSON, TYPED_JSON, codec_named
from sessionhub.model import SessionData, encode_value

MAX_BYTES = 1 << 20

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what JSON (orjson) holds
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.binary(max_size=32),
)
hashables = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=8), st.uuids(), st.dates()),
    lambda inner: st.one_of(st.tuples(inner, inner), st.frozensets(inner, max_size=3)),
    max_leaves=6,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=3),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
    ),
    max_leaves=8,
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down: == alone takes a list for a tuple's equal, 1 for True."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (
            list(a) == list(b)
            and all(same(key, other) for key, other in zip(a, b, strict=True))
            and all(same(a[key], b[key]) for key in a)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset):
        # A set holds one of each equal value: its partner in the other set is the one equal to it.
        return a == b and all(same(item, next(other for other in b if other == item)) for item in a)
    if isinstance(a, datetime | time):
        return bool(a == b and a.utcoffset() == b.utcoffset())
    if isinstance(a, float) and a == 0:
        return str(a) == str(b)  # -0.0 stays -0.0
    return bool(a == b)


@given(values)
def test_typed_json_gives_back_every_value_with_its_types(value: Any) -> None:
    raw = encode_value("key", value, TYPED_JSON)
    assert same(TYPED_JSON.decode(raw), value)
    orjson.loads(raw)  # and it is JSON all the same


@given(values)
def test_typed_json_stores_equal_values_as_equal_bytes(value: Any) -> None:
    """Sets have no order of their own: the same set is always stored alike, so an unchanged session writes nothing."""
    assert TYPED_JSON.encode(value) == TYPED_JSON.encode(TYPED_JSON.decode(TYPED_JSON.encode(value)))


def test_a_set_is_stored_alike_in_every_process() -> None:
    """str hashes are salted per process, so a set of str iterates in a different order in each one."""
    script = "from sessionhub.codecs import TYPED_JSON; print(TYPED_JSON.encode({'x': {str(n) for n in range(50)}}))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_typed_json_is_plain_json_for_plain_values() -> None:
    """A service on the plain JSON codec reads what typed JSON stored for JSON's own types, byte for byte."""
    value = {"cart": [1, 2.5, None, True, "x"], "nested": {"a": {"b": []}}}
    assert TYPED_JSON.encode(value) == JSON.encode(value)


def test_typed_values_are_one_key_objects_naming_their_type() -> None:
    when = datetime(2026, 12, 2, 6, 30, 0, 123456, tzinfo=UTC)
    raw = TYPED_JSON.encode(
        {"when": when, "id": uuid.UUID(int=1), "price": Decimal("9.90"), "pair": (1, 2), "tags": {"b", "a"}}
    )
    assert orjson.loads(raw) == {
        "when": {"$datetime": "2026-12-02T06:30:00.123456+00:00"},
        "id": {"$uuid": "00000000-0000-0000-0000-000000000001"},
        "price": {"$decimal": "9.90"},
        "pair": {"$tuple": [1, 2]},
        "tags": {"$set": ["a", "b"]},
    }


@pytest.mark.parametrize(
    "value",
    [
        {"$uuid": "not a uuid"},
        {"$tuple": [1, 2]},
        {"$map": []},
        {"$set": "x", "other": 1},
        [{"$date": "2026-01-01"}],
    ],
)
def test_an_application_dict_that_looks_like_a_tag_comes_back_as_a_dict(value: Any) -> None:
    assert same(TYPED_JSON.decode(encode_value("key", value, TYPED_JSON)), value)


@pytest.mark.parametrize(
    "raw",
    [b'{"$uuid":"not a uuid"}', b'{"$decimal":"abc"}', b'{"$timedelta":[1]}', b'{"$set":[[1]]}', b'{"$bytes":"*"}'],
)
def test_a_tag_the_codec_did_not_write_reads_as_the_json_it_is(raw: bytes) -> None:
    """Stored by a plain-JSON service sharing the sessions, say: the session stays readable."""
    assert TYPED_JSON.decode(raw) == orjson.loads(raw)


def test_an_aware_datetime_keeps_its_offset_and_a_naive_one_stays_naive() -> None:
    aware = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    naive = datetime(2026, 1, 1, 12)
    back = TYPED_JSON.decode(TYPED_JSON.encode([aware, naive]))
    assert back[0].utcoffset() == timedelta(hours=-5)
    assert back[1].tzinfo is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "cannot be stored as typed-json: Type is not storable as typed JSON: object"),
        (float("nan"), "would not come back unchanged from typed-json"),
        (Decimal("NaN"), "would not come back unchanged from typed-json"),
        ({"k": [1, {2, 3}, lambda: None]}, "cannot be stored as typed-json"),
    ],
)
def test_typed_json_refuses_what_it_cannot_give_back(value: Any, message: str) -> None:
    with pytest.raises(SessionDataError, match="session data key 'secret-ish'") as caught:
        encode_value("secret-ish", value, TYPED_JSON)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "value", [(1, 2), {1: "a"}, {1, 2}, datetime(2026, 1, 1), uuid.UUID(int=7), Decimal("1.5"), date(2026, 1, 1)]
)
def test_plain_json_refuses_typed_values_and_names_the_typed_codec(value: Any) -> None:
    with pytest.raises(SessionDataError, match="session data key 'k'") as caught:
        encode_value("k", value, JSON)
    assert "data_codec='typed-json'" in str(caught.value)


def test_an_error_names_the_type_never_the_value() -> None:
    class Card:
        def __repr__(self) -> str:
            return "Card(4111 1111 1111 1111)"

    with pytest.raises(SessionDataError) as caught:
        encode_value("card", {"number": Card()}, TYPED_JSON)
    assert "4111" not in str(caught.value)
    assert "Card" in str(caught.value)


def test_session_data_on_typed_json_sees_a_change_inside_a_set() -> None:
    stored = {"tags": TYPED_JSON.encode({"a"}), "seen": TYPED_JSON.encode(datetime(2026, 1, 1, tzinfo=UTC))}
    data = SessionData(stored, TYPED_JSON)
    assert data == {"tags": {"a"}, "seen": datetime(2026, 1, 1, tzinfo=UTC)}
    assert data.unchanged(MAX_BYTES)
    assert not data.pending_changes(MAX_BYTES)

    data["tags"].add("b")

    assert not data.unchanged(MAX_BYTES)
    assert data.pending_changes(MAX_BYTES).updated == {"tags": TYPED_JSON.encode({"a", "b"})}


def test_the_setting_names_the_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    assert codec_named(Settings().data_codec) is JSON
    monkeypatch.setenv("SESSIONHUB_DATA_CODEC", "typed-json")
    assert codec_named(Settings().data_codec) is TYPED_JSON
    monkeypatch.setenv("SESSIONHUB_DATA_CODEC", "pickle")
    with pytest.raises(Exception, match="SESSIONHUB_DATA_CODEC"):
        Settings()
