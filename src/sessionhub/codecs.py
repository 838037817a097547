"""How a session data value becomes the bytes a store keeps, and back: chosen per manager (the `data_codec` setting).

    json        plain JSON: str, int, float, bool, None, lists and str-keyed dicts. The default: any service, in any
                language, reads what it stores, and a value JSON would change (a tuple into a list) is refused.
    typed-json  JSON that also keeps datetime, date, time, timedelta, UUID, Decimal, bytes, tuples, sets, frozensets
                and dicts with non-str keys, each as a one-key object naming its type: {"$uuid": "..."}.

Both check that what they store comes back equal (`model.encode_value`); neither ever runs code to decode, so data
from the store can never do more than build these values (no pickle).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, Protocol

import orjson

CodecName = Literal["json", "typed-json"]

# Values JSON would silently turn into something else (datetimes and dataclasses into strings and dicts) reach the
# codec's own handling (typed JSON) or are refused (JSON), so that what is stored is what comes back.
_STRICT: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class DataCodec(Protocol):
    """Turns one session data value into bytes and back. `encode` raises TypeError for a value it cannot hold;
    the caller checks that `decode(encode(value)) == value`."""

    @property
    def name(self) -> str: ...

    def encode(self, value: Any) -> bytes: ...

    def decode(self, raw: bytes) -> Any: ...

    def jsonable(self, value: Any) -> Any:
        """The value as plain JSON types, as it is stored (for tools that print session data)."""
        ...


class JSONCodec:
    """Plain JSON, the default."""

    name = "json"

    def encode(self, value: Any) -> bytes:
        return orjson.dumps(value, option=_STRICT)

    decode = staticmethod(orjson.loads)

    def jsonable(self, value: Any) -> Any:
        return value


# -- typed JSON ------------------------------------------------------------------------------------------------
#
# A tagged value is a JSON object with exactly one key, the tag. A dict of the application's that looks like one
# (a single key that is a tag) is stored as "$map" pairs, so that every dict comes back as it went in.


def _pairs(items: list[Any]) -> dict[Any, Any]:
    return {_untagged(key): _untagged(value) for key, value in items}


def _timedelta(parts: list[int]) -> timedelta:
    days, seconds, microseconds = parts
    return timedelta(days=days, seconds=seconds, microseconds=microseconds)


_DECODERS: Final[dict[str, Callable[[Any], Any]]] = {
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": time.fromisoformat,
    "$timedelta": _timedelta,
    "$uuid": uuid.UUID,
    "$decimal": Decimal,
    "$bytes": lambda text: base64.b64decode(text, validate=True),
    "$tuple": lambda items: tuple(_untagged(item) for item in items),
    "$set": lambda items: {_untagged(item) for item in items},
    "$frozenset": lambda items: frozenset(_untagged(item) for item in items),
    "$map": _pairs,
}


def _sorted_items(items: Any) -> list[Any]:
    # A set's order changes from process to process (str hashes are salted): sorted by their stored form, the same
    # set always stores the same bytes, and a session that did not change is not written again.
    return sorted((_tagged(item) for item in items), key=lambda item: orjson.dumps(item, option=_STRICT))


def _tagged(value: Any) -> Any:
    """The value in JSON's own types, typed values tagged. TypeError for what no tag holds."""
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    if isinstance(value, list):
        return [_tagged(item) for item in value]
    if isinstance(value, dict):
        if all(type(key) is str for key in value) and not (len(value) == 1 and next(iter(value)) in _DECODERS):
            return {key: _tagged(item) for key, item in value.items()}
        return {"$map": [[_tagged(key), _tagged(item)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [_tagged(item) for item in value]}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, frozenset):  # before set: the two are distinct types, and each comes back as itself
        return {"$frozenset": _sorted_items(value)}
    if isinstance(value, set):
        return {"$set": _sorted_items(value)}
    raise TypeError(f"Type is not storable as typed JSON: {type(value).__name__}")


def _untagged(value: Any) -> Any:
    if isinstance(value, list):
        return [_untagged(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1:
            tag, inner = next(iter(value.items()))
            decoder = _DECODERS.get(tag)
            if decoder is not None:
                return decoder(inner)
        return {key: _untagged(item) for key, item in value.items()}
    return value


_TAG_MARK: Final = b'{"$'
"""Where a stored document may hold a tag: orjson writes no spaces, and a quote inside a string is escaped, so a
document without these bytes has none and decodes as plain JSON."""


class TypedJSONCodec:
    """JSON with type tags for the values Python applications keep in sessions (Starlette's JSON sessions refuse
    them, and pickle would run code from the store)."""

    name = "typed-json"

    def encode(self, value: Any) -> bytes:
        return orjson.dumps(_tagged(value), option=_STRICT)

    def decode(self, raw: bytes) -> Any:
        document = orjson.loads(raw)
        if _TAG_MARK not in raw:
            return document  # most values: nothing tagged
        try:
            return _untagged(document)
        except (TypeError, ValueError, ArithmeticError):
            # Not this codec's tags (a plain-JSON service stored a dict like {"$date": "soon"}): the JSON as it is,
            # rather than a session that cannot be read.
            return document

    def jsonable(self, value: Any) -> Any:
        return _tagged(value)


JSON: Final = JSONCodec()
TYPED_JSON: Final = TypedJSONCodec()
_CODECS: Final[dict[str, DataCodec]] = {codec.name: codec for codec in (JSON, TYPED_JSON)}


def codec_named(name: CodecName) -> DataCodec:
    """The codec for a `data_codec` setting."""
    return _CODECS[name]
