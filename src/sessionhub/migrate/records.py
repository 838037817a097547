"""Reading legacy records: what a source gets from Redis, and turning JSON documents into `LegacySession`s.

Everything here is pure: sources call it, the migrator owns the I/O. A record that cannot be migrated raises
`RecordError` with a reason a person can act on; the migrator reports it and never drops it silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from sessionhub.client import ClientInfo
from sessionhub.legacy import LegacySession


class RecordError(ValueError):
    """This legacy record cannot be migrated; the message says why (and never contains the cookie value)."""


@dataclass(frozen=True, slots=True)
class LegacyRecord:
    """One legacy key as read: the cookie value a browser holds for it (the id its name carries, signed when the
    source signs its cookies), its raw value and that value's digest (lua/read_batch.lua), its remaining TTL (None:
    none)."""

    key: bytes
    token: str
    alias_id: str
    value: bytes
    digest: str
    ttl_ms: int | None
    read_at: int
    """The migration clock (ms) when it was read: the TTL counts from here."""

    @property
    def ttl_deadline(self) -> int | None:
        return self.read_at + self.ttl_ms if self.ttl_ms is not None else None


@dataclass(frozen=True, slots=True)
class FieldMap:
    """Where a JSON source keeps each piece of session metadata: names of top-level fields, first present wins.

    `data` names the field holding the session data; top-level fields that are not metadata are data too, so nothing
    is dropped. `session_id`, when present in a record, must equal the id in its key.
    """

    user_id: tuple[str, ...] = ("user_id",)
    created_at: tuple[str, ...] = ("created_at",)
    last_active_at: tuple[str, ...] = ("last_active_at",)
    expires_at: tuple[str, ...] = ("expires_at",)
    ip: tuple[str, ...] = ("ip",)
    user_agent: tuple[str, ...] = ("user_agent",)
    data: tuple[str, ...] = ("data",)
    session_id: tuple[str, ...] = ("session_id",)

    FIELDS = ("user_id", "created_at", "last_active_at", "expires_at", "ip", "user_agent", "data", "session_id")

    @classmethod
    def parse(cls, mappings: list[str]) -> FieldMap:
        """From `field=name[,name...]` strings (the CLI's --field), over the defaults; `field=` says the records
        have no such field (`data=`: every field that is not metadata is data)."""
        chosen: dict[str, tuple[str, ...]] = {}
        for mapping in mappings:
            field, equals, names = mapping.partition("=")
            if field not in cls.FIELDS or not equals:
                raise ValueError(f"--field {mapping!r}: expected FIELD=NAME with FIELD one of {', '.join(cls.FIELDS)}")
            chosen[field] = tuple(name for name in names.split(",") if name)
        return cls(**chosen)

    def describe(self) -> str:
        return ";".join(f"{field}={','.join(getattr(self, field))}" for field in self.FIELDS)


def load_json_object(value: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise RecordError("value is not valid JSON") from None
    if not isinstance(document, dict):
        raise RecordError(f"value is a JSON {type(document).__name__}, not an object")
    return document


def parse_time(value: Any, field: str) -> int | None:
    """Milliseconds since the epoch from epoch seconds (or milliseconds, when that large) or an ISO 8601 string;
    naive times are UTC. None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(f"{field} is a boolean, not a time")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise RecordError(f"{field} is not a valid timestamp")
        # Seconds until the year 5138; anything larger was written in milliseconds.
        return int(value) if value > 1e11 else int(value * 1000)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise RecordError(f"{field} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    raise RecordError(f"{field} is a {type(value).__name__}, not a time")


def _optional_str(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"{field} is a {type(value).__name__}, not a string")


def earliest(*deadlines: int | None) -> int | None:
    known = [deadline for deadline in deadlines if deadline is not None]
    return min(known) if known else None


def session_from_document(
    document: Mapping[str, Any], fields: FieldMap, record: LegacyRecord, *, kind: str
) -> LegacySession:
    """A `LegacySession` from a JSON object laid out as `fields` says, expiring at the earlier of its own expiry
    field and the key's TTL."""
    remaining = dict(document)

    def take(names: tuple[str, ...]) -> Any:
        found = None
        for name in names:
            if name in remaining:
                value = remaining.pop(name)
                found = value if found is None else found
        return found

    stored_id = take(fields.session_id)
    if stored_id is not None and stored_id != record.token:
        raise RecordError("its session_id field does not match the id in its key")
    user_id = _optional_str(take(fields.user_id), "user_id")
    created_at = parse_time(take(fields.created_at), "created_at")
    last_active_at = parse_time(take(fields.last_active_at), "last_active_at")
    expires_at = parse_time(take(fields.expires_at), "expires_at")
    client = ClientInfo(
        ip=_optional_str(take(fields.ip), "ip"), user_agent=_optional_str(take(fields.user_agent), "user_agent")
    )
    data = take(fields.data)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecordError(f"its data field is a {type(data).__name__}, not an object")
    clashes = sorted(set(data) & set(remaining))
    if clashes:
        raise RecordError(f"key {clashes[0]!r} is both a top-level field and a data key")
    data.update(remaining)
    return LegacySession(
        alias_id=record.alias_id,
        user_id=user_id or None,
        kind=kind,
        data=data,
        client=client,
        created_at=created_at,
        last_active_at=last_active_at,
        expires_at=earliest(expires_at, record.ttl_deadline),
        source_digest=record.digest,
    )


def session_from_data(
    data: dict[str, Any],
    record: LegacyRecord,
    *,
    kind: str,
    user_key: str | None,
    created_at: int | None = None,
    last_active_at: int | None = None,
) -> LegacySession:
    """A `LegacySession` from a framework's session dict, expiring with the key's TTL.

    The user is the value under `user_key`, which stays in the data too: application code that reads it from the
    session keeps working after the move.
    """
    user_id = _optional_str(data.get(user_key), user_key) if user_key is not None else None
    return LegacySession(
        alias_id=record.alias_id,
        user_id=user_id or None,
        kind=kind,
        data=data,
        created_at=created_at,
        last_active_at=last_active_at,
        expires_at=record.ttl_deadline,
        source_digest=record.digest,
    )
