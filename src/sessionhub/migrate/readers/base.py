"""Where a migration reads legacy records: a `LegacyReader` walks a legacy store page by page, reads named records
for read-through, and deletes a record only if it still holds what was imported. A source (how records are
decoded) says which kind of store it reads; the migrator owns neither the I/O nor the format."""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")

Row = tuple[bytes, bytes | list[bytes] | None, int, bytes | None]
"""One legacy record as read: its key; its value (None: gone, `[type]`: a Redis key that is not a string); its
remaining lifetime in ms from the time of the read (-1: none, -2: gone); the SHA-1 (hex) of its value, which import
markers keep so that a later pass can tell whether the legacy application changed the record."""


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Keys `<prefix><legacy session id>`, whose sessions are of `kind` unless a record says otherwise."""

    prefix: str
    kind: str = "user"

    def __post_init__(self) -> None:
        if not self.prefix:
            raise ValueError("a key prefix is required: an empty one would read every key of the database")

    def pattern(self) -> str:
        """The SCAN MATCH pattern for this prefix, its glob characters escaped."""
        return _GLOB_SPECIALS.sub(r"\\\1", self.prefix) + "*"


@dataclass(frozen=True, slots=True)
class Page:
    """Records of one key space, and the cursor where the next page starts (None: the key space is done)."""

    rows: list[Row]
    cursor: str | None


class LegacyReader(abc.ABC):
    store: ClassVar[str]
    """The kind of store ("redis", "sql"): a source reads one kind (`MigrationSource.store`)."""
    errors: tuple[type[Exception], ...]
    """What its reads raise when the store is down or unreachable (read-through then goes on without it)."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the store is, without credentials: part of a migration's identity (a cursor means nothing
        elsewhere, and two stores must not share a ledger)."""

    @abc.abstractmethod
    async def page(self, keyspace: KeySpace, cursor: str, count: int, now_ms: int) -> Page:
        """About `count` records of `keyspace` from `cursor` ("" the first page) on; lifetimes count from `now_ms`
        (the migration's clock). A record present for the whole walk is returned at least once."""

    @abc.abstractmethod
    async def read_keys(self, keys: Sequence[bytes], now_ms: int) -> list[Row]:
        """These records (read-through), in order; a missing one as gone."""

    @abc.abstractmethod
    async def delete_unchanged(self, imported: Sequence[tuple[bytes, str]]) -> list[bool]:
        """For each (key, digest imported): delete the record only if its value's digest still is that one, checked
        and deleted atomically; whether it was deleted."""

    async def estimate(self) -> int | None:
        """About how many records a pass reads (an upper bound), for the progress bar; None when unknown."""
        return None

    @abc.abstractmethod
    async def aclose(self) -> None: ...
