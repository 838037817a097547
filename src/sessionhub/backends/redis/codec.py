"""How sessionhub's values become Redis hash fields and script arguments, and how replies become records.

A session is one hash (keys.py names it): metadata fields of one or two letters, and a `d:<key>` field per
top-level data key holding that key's JSON document, so that a save writes only the keys that changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sessionhub.backends.base import Audit, UserLimit
from sessionhub.client import ClientInfo
from sessionhub.events import SecurityEvent
from sessionhub.model import DataChanges, SessionRecord, utc


def record_fields(record: SessionRecord) -> list[str | bytes | int]:
    fields: list[str | bytes | int] = [
        "k", record.kind,
        "c", record.created_at,
        "a", record.last_active_at,
        "e", record.expires_at,
        "x", record.absolute_expires_at,
        "t", record.idle_ttl,
    ]  # fmt: skip
    if record.user_id is not None:
        fields += ["u", record.user_id]
    if record.authenticated_at is not None:
        fields += ["au", record.authenticated_at]
    if record.remembered is not None:
        fields += ["rm", int(record.remembered)]
    if record.client.ip:
        fields += ["ip", record.client.ip]
    if record.client.user_agent:
        fields += ["ua", record.client.user_agent]
    for key, raw in record.data.items():
        fields += [f"d:{key}", raw]
    return fields


def record_of(session_id: str, fields: list[bytes]) -> SessionRecord:
    """The record in a script's HGETALL reply (a flat list: name, value, ...)."""
    values = iter(fields)
    return _record(session_id, zip(values, values, strict=True))


def record_from_hash(session_id: str, fields: Mapping[bytes, bytes]) -> SessionRecord:
    """The record in redis-py's HGETALL reply (a dict)."""
    return _record(session_id, fields.items())


def _record(session_id: str, pairs: Iterable[tuple[bytes, bytes]]) -> SessionRecord:
    meta: dict[bytes, bytes] = {}
    data: dict[str, bytes] = {}
    for name, value in pairs:
        if name[:2] == b"d:":
            data[name[2:].decode()] = value
        else:
            meta[name] = value
    user = meta.get(b"u")
    ip = meta.get(b"ip")
    user_agent = meta.get(b"ua")
    flagged = meta.get(b"rs")
    authenticated = meta.get(b"au")
    remembered = meta.get(b"rm")
    created_at = int(meta[b"c"])
    return SessionRecord(
        id=session_id,
        user_id=user.decode() if user is not None else None,
        kind=meta[b"k"].decode(),
        created_at=created_at,
        last_active_at=int(meta[b"a"]),
        expires_at=int(meta[b"e"]),
        absolute_expires_at=int(meta[b"x"]),
        idle_ttl=int(meta[b"t"]),
        client=ClientInfo(
            ip=ip.decode() if ip is not None else None,
            user_agent=user_agent.decode() if user_agent is not None else None,
        ),
        data=data,
        flagged_client=flagged.decode() if flagged is not None else None,
        # Signed-in sessions stored before authentication times were kept: they signed in when they were made.
        authenticated_at=int(authenticated) if authenticated is not None else (created_at if user else None),
        remembered=remembered == b"1" if remembered is not None else None,
    )


def audit_args(audit: Audit) -> list[str | int]:
    return [audit.actor, audit.reason, audit.ip or "", audit.device or "", audit.max_events, audit.ttl]


def event_of(entry: dict[bytes, bytes]) -> SecurityEvent:
    def text(name: bytes) -> str | None:
        value = entry.get(name)
        return value.decode() if value is not None else None

    return SecurityEvent(
        type=entry[b"type"].decode(),
        at=utc(int(entry[b"at"])),
        session_id=text(b"sid"),
        related_session_id=text(b"rel"),
        reason=text(b"reason"),
        actor=text(b"actor"),
        ip=text(b"ip"),
        device=text(b"dev"),
        risk=text(b"risk"),
    )


def data_fields(changes: DataChanges) -> tuple[list[str | bytes], list[str]]:
    """The hash fields a data change writes (field/value pairs) and deletes."""
    changed: list[str | bytes] = []
    for key, raw in changes.updated.items():
        changed += [f"d:{key}", raw]
    return changed, [f"d:{key}" for key in changes.removed]


def limit_args(limit: UserLimit | None) -> dict[str, int]:
    """The `limit` and `evict` arguments of create.lua and login.lua: no limit is 0."""
    if limit is None:
        return {"limit": 0, "evict": 0}
    return {"limit": limit.max_sessions, "evict": int(limit.evict_oldest)}
