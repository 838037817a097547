"""What every migration source provides: the key spaces to scan and how to decode one record."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

from sessionhub.legacy import LegacySession
from sessionhub.migrate.readers.base import KeySpace, LegacyReader
from sessionhub.migrate.records import LegacyRecord

__all__ = ["KeySpace", "MigrationSource"]


class MigrationSource(abc.ABC):
    """A legacy session store. Subclasses say where its sessions are and how to read one."""

    name: ClassVar[str]
    store: ClassVar[str] = "redis"
    """The kind of store its records are in (`LegacyReader.store`)."""
    keyspaces: tuple[KeySpace, ...]

    def cookie_value(self, legacy_id: str) -> str:
        """The cookie a browser holds for the session stored under `<prefix><legacy_id>`: the id itself, unless the
        library signs its cookies. The migrated session is reachable through exactly this value."""
        return legacy_id

    def legacy_id(self, cookie: str) -> str | None:
        """The id under which the session of this cookie is stored, the inverse of `cookie_value` (read-through);
        None when the cookie cannot be one of this source's."""
        return cookie

    async def prepare(self, reader: LegacyReader) -> None:
        """Read what decoding needs besides the records themselves (an index of users, say). Called before a pass."""

    @abc.abstractmethod
    def decode(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession:
        """The legacy session in `record`; RecordError saying why when it cannot be migrated."""

    def decode_alone(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession | None:
        """`decode` for one record read on its own (read-through), without `prepare`; None when the record cannot
        be read right alone (then only the bulk migration brings it). RecordError as `decode` raises it."""
        return self.decode(record, keyspace)

    def describe(self) -> str:
        """The settings that decide what is read: a checkpoint is only resumed by a source described alike."""
        return f"{self.name}:" + ",".join(f"{space.prefix}={space.kind}" for space in self.keyspaces)

    async def forget(self, reader: LegacyReader, deleted: Sequence[LegacyRecord]) -> None:
        """After records were deleted from the source, remove them from the source's own indexes."""
