"""The seeds' legacy layout: JSON sessions under `session:<id>`, demo sessions under `demo:session:<id>`, and each
user's session ids in a set `user_sessions:<user>` (docs/migration.md shows a record).

A session's user is the record's `user_id`, else the user whose index holds it. A record that names one user while
another user's index holds it, or that two users' indexes hold, is reported rather than guessed at.

The seeds kept a demo session's walk-through as plain keys (`industry`, `progress`, `status`, `messages`, at the top
level or in `data`); it becomes a sessionhub demo session (sessionhub.conversation): the industry and progress under
their reserved keys, the messages as its conversation, so that `demo_status` and `get_messages` answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

from sessionhub.conversation import (
    INDUSTRY_KEY,
    NEW_DEMO_STATUS,
    PROGRESS_KEY,
    check_industry,
    check_status,
    progress_value,
)
from sessionhub.errors import SessionDataError
from sessionhub.legacy import LegacyMessage, LegacySession
from sessionhub.migrate.readers.base import LegacyReader
from sessionhub.migrate.readers.redis import RedisReader, lua
from sessionhub.migrate.records import (
    FieldMap,
    LegacyRecord,
    RecordError,
    load_json_object,
    parse_time,
    session_from_document,
)
from sessionhub.migrate.sources.base import KeySpace, MigrationSource
from sessionhub.settings import DEMO_KIND

SEED_FIELDS = FieldMap(
    last_active_at=("last_accessed", "last_activity", "last_active_at"),
    ip=("ip_address", "ip"),
)
USER_INDEX_PREFIX = "user_sessions:"
_MESSAGE_TIME_FIELDS = ("timestamp", "created_at", "time")
_SCAN_COUNT = 1000


class SeedsSource(MigrationSource):
    name = "seeds"

    def __init__(self) -> None:
        self.keyspaces = (KeySpace("session:", "user"), KeySpace("demo:session:", "demo"))
        # Tuples, not sets: the collector stops tracking tuples of str, and there is one per legacy session.
        self._users_of: dict[str, tuple[str, ...]] = {}

    async def prepare(self, reader: LegacyReader) -> None:
        client = _redis(reader)
        users_of: dict[str, tuple[str, ...]] = {}
        read_sets = client.register_script(lua("read_sets.lua"))
        cursor = None
        while cursor != 0:
            cursor, index_keys = await client.scan(cursor or 0, match=USER_INDEX_PREFIX + "*", count=_SCAN_COUNT)
            if not index_keys:
                continue
            for key, ids in zip(cast(list[bytes], index_keys), await read_sets(keys=index_keys), strict=True):
                if not ids:
                    continue  # not a set: no index of ours
                user = key[len(USER_INDEX_PREFIX) :].decode(errors="replace")
                for member in ids:
                    session_id = member.decode(errors="replace")
                    users_of[session_id] = (*users_of.get(session_id, ()), user)
        self._users_of = users_of

    def decode(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession:
        document = load_json_object(record.value)
        kind = _kind(document, keyspace)
        session = session_from_document(document, SEED_FIELDS, record, kind=kind)
        indexed = self._users_of.get(record.token, ())
        if len(indexed) > 1:
            raise RecordError(f"the user indexes of {len(indexed)} users hold it")
        if indexed:
            (indexed_user,) = indexed
            if session.user_id is None:
                session.user_id = indexed_user
            elif session.user_id != indexed_user:
                raise RecordError("its user_id differs from the user whose user_sessions index holds it")
        if kind == DEMO_KIND:
            _as_demo_session(session, record)
        return session

    def decode_alone(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession | None:
        """Only a record that names its user: one that does not may belong to a user whose index alone says so, and
        read through it would arrive signed out."""
        session = self.decode(record, keyspace)
        return session if session.user_id is not None else None

    async def forget(self, reader: LegacyReader, deleted: Sequence[LegacyRecord]) -> None:
        async with _redis(reader).pipeline(transaction=False) as pipe:
            for record in deleted:
                for user in self._users_of.get(record.token, ()):
                    pipe.srem(USER_INDEX_PREFIX + user, record.token)
            await pipe.execute()


def _redis(reader: LegacyReader) -> Redis:
    assert isinstance(reader, RedisReader), "the migrator gives a source a reader of its store"
    return reader.client


def _kind(document: dict[str, Any], keyspace: KeySpace) -> str:
    """Demo sessions are kind "demo" wherever they were kept; the seeds' `is_demo` flag is metadata, not data."""
    is_demo = document.pop("is_demo", None)
    if is_demo is not None and not isinstance(is_demo, bool):
        raise RecordError("is_demo is not a boolean")
    if keyspace.kind == "demo" and is_demo is False:
        raise RecordError("a demo session key holds a record with is_demo false")
    return "demo" if is_demo or keyspace.kind == "demo" else keyspace.kind


def _as_demo_session(session: LegacySession, record: LegacyRecord) -> None:
    data = session.data
    industry, progress, status = data.pop("industry", None), data.pop("progress", None), data.pop("status", None)
    try:
        if industry is not None:
            data[INDUSTRY_KEY] = check_industry(industry)
        if progress is not None or status is not None:
            data[PROGRESS_KEY] = _progress(progress, status)
    except SessionDataError as exc:
        raise RecordError(f"its demo walk-through cannot be kept: {exc}") from None
    written = session.last_active_at or session.created_at or record.read_at
    session.messages = _messages(data.pop("messages", None), written)


def _progress(progress: object, status: object) -> dict[str, Any]:
    """{step, total, status} from the seeds' `progress` ({step, total[, status]}, or a percentage) and `status` (a
    label, spaces and capitals allowed: "In progress" is in_progress)."""
    if isinstance(status, str):
        status = status.strip().lower().replace(" ", "_")
    if isinstance(progress, dict):
        status = status if status is not None else progress.get("status", NEW_DEMO_STATUS)
        return progress_value(progress.get("step"), progress.get("total"), status)
    if progress is None:
        return {"step": 0, "total": 0, "status": check_status(status)}
    if isinstance(progress, float) and progress.is_integer():
        progress = int(progress)
    if isinstance(progress, bool) or not isinstance(progress, int):
        raise RecordError(f"its demo progress is a {type(progress).__name__}, not {{step, total}} or a percentage")
    return progress_value(progress, 100, NEW_DEMO_STATUS if status is None else status)


def _messages(value: object, written: int) -> list[LegacyMessage]:
    """The seeds' messages, oldest first: {role, content} with an optional time (`timestamp`, `created_at`, `time`);
    one without a time gets the session's last activity. Roles and lengths are checked on import
    (`SessionManager.prepare_import`), as `append_message` checks them."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"its messages are a {type(value).__name__}, not a list")
    messages = []
    for number, message in enumerate(value, 1):
        if not isinstance(message, dict):
            raise RecordError(f"its message {number} is a {type(message).__name__}, not an object")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise RecordError(f"its message {number} has no role or content text")
        time = next((message[name] for name in _MESSAGE_TIME_FIELDS if message.get(name) is not None), None)
        at = parse_time(time, f"the time of message {number}")
        messages.append(LegacyMessage(role, content, at if at is not None else written))
    return messages
