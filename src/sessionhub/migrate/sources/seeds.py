"""The seeds' legacy layout: JSON sessions under `session:<id>`, demo sessions under `demo:session:<id>`, and each
user's session ids in a set `user_sessions:<user>` (docs/migration.md shows a record).

A session's user is the record's `user_id`, else the user whose index holds it. A record that names one user while
another user's index holds it, or that two users' indexes hold, is reported rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

from sessionhub.legacy import LegacySession
from sessionhub.migrate.records import FieldMap, LegacyRecord, RecordError, load_json_object, session_from_document
from sessionhub.migrate.sources.base import KeySpace, MigrationSource, lua

SEED_FIELDS = FieldMap(
    last_active_at=("last_accessed", "last_activity", "last_active_at"),
    ip=("ip_address", "ip"),
)
USER_INDEX_PREFIX = "user_sessions:"
_SCAN_COUNT = 1000


class SeedsSource(MigrationSource):
    name = "seeds"

    def __init__(self) -> None:
        self.keyspaces = (KeySpace("session:", "user"), KeySpace("demo:session:", "demo"))
        # Tuples, not sets: the collector stops tracking tuples of str, and there is one per legacy session.
        self._users_of: dict[str, tuple[str, ...]] = {}

    async def prepare(self, client: Redis) -> None:
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
        return session

    async def forget(self, client: Redis, deleted: Sequence[LegacyRecord]) -> None:
        async with client.pipeline(transaction=False) as pipe:
            for record in deleted:
                for user in self._users_of.get(record.token, ()):
                    pipe.srem(USER_INDEX_PREFIX + user, record.token)
            await pipe.execute()


def _kind(document: dict[str, Any], keyspace: KeySpace) -> str:
    """Demo sessions are kind "demo" wherever they were kept; the seeds' `is_demo` flag is metadata, not data."""
    is_demo = document.pop("is_demo", None)
    if is_demo is not None and not isinstance(is_demo, bool):
        raise RecordError("is_demo is not a boolean")
    if keyspace.kind == "demo" and is_demo is False:
        raise RecordError("a demo session key holds a record with is_demo false")
    return "demo" if is_demo or keyspace.kind == "demo" else keyspace.kind
