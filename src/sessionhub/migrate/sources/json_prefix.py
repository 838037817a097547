"""A generic source: one JSON document per key under a prefix, its fields named by a `FieldMap`."""

from __future__ import annotations

from sessionhub.legacy import LegacySession
from sessionhub.migrate.records import FieldMap, LegacyRecord, load_json_object, session_from_document
from sessionhub.migrate.sources.base import KeySpace, MigrationSource


class JsonPrefixSource(MigrationSource):
    name = "json"

    def __init__(self, prefix: str, *, fields: FieldMap | None = None, kind: str = "user") -> None:
        self.keyspaces = (KeySpace(prefix, kind),)
        self.fields = fields or FieldMap()

    def decode(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession:
        return session_from_document(load_json_object(record.value), self.fields, record, kind=keyspace.kind)

    def describe(self) -> str:
        return f"{super().describe()};{self.fields.describe()}"
