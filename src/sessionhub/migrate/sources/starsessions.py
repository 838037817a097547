"""starsessions' RedisStore: JSON under `<prefix><session id>` (prefix "starsessions." by default), with the
library's own `__metadata__` (created and last access, in epoch seconds) beside the application's keys, and the
remaining lifetime as the key's TTL. The cookie holds the session id.
"""

from __future__ import annotations

from sessionhub.legacy import LegacySession
from sessionhub.migrate.records import LegacyRecord, RecordError, load_json_object, parse_time, session_from_data
from sessionhub.migrate.sources.base import KeySpace, MigrationSource


class StarsessionsSource(MigrationSource):
    name = "starsessions"

    def __init__(self, prefix: str = "starsessions.", *, user_key: str | None = None, kind: str = "user") -> None:
        self.keyspaces = (KeySpace(prefix, kind),)
        self.user_key = user_key

    def decode(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession:
        data = load_json_object(record.value)
        metadata = data.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict):
            raise RecordError("its __metadata__ is not an object")
        return session_from_data(
            data,
            record,
            kind=keyspace.kind,
            user_key=self.user_key,
            created_at=parse_time(metadata.get("created"), "__metadata__.created"),
            last_active_at=parse_time(metadata.get("last_access"), "__metadata__.last_access"),
        )

    def describe(self) -> str:
        return f"{super().describe()};user_key={self.user_key}"
