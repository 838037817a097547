"""Which sessions were imported from one source: what a complete pass compares with the source to find the legacy
sessions deleted since their import (a legacy logout), so that they end in sessionhub too.

A pass adds every session it imported or found imported; a session leaves the ledger when its legacy record is
gone (then ended in sessionhub if still waiting for its browser), including when `Migrator.delete_source` deleted
the record itself.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable

from sessionhub.backends.redis.connect import RedisClient

CHUNK = 1_000
"""Session ids per chunk when reading the ledger back."""

LEDGER_TTL_SECONDS = 90 * 86_400
"""A ledger no pass has added to for this long goes away (the migration is long over)."""


class ImportLedger(abc.ABC):
    @abc.abstractmethod
    async def add(self, session_ids: Iterable[str]) -> None: ...

    @abc.abstractmethod
    async def remove(self, session_ids: Iterable[str]) -> None: ...

    @abc.abstractmethod
    def chunks(self) -> AsyncIterator[list[str]]:
        """Every session id in the ledger, a chunk at a time; removing ids meanwhile is safe."""


class MemoryImportLedger(ImportLedger):
    """Kept by this process (tests, and a program that migrates with its own loop)."""

    def __init__(self) -> None:
        self.session_ids: set[str] = set()

    async def add(self, session_ids: Iterable[str]) -> None:
        self.session_ids.update(session_ids)

    async def remove(self, session_ids: Iterable[str]) -> None:
        self.session_ids.difference_update(session_ids)

    async def chunks(self) -> AsyncIterator[list[str]]:
        ids = sorted(self.session_ids)
        for start in range(0, len(ids), CHUNK):
            yield ids[start : start + CHUNK]


class RedisImportLedger(ImportLedger):
    """A set in sessionhub's Redis, one per source (its key names the source), read back with SSCAN."""

    def __init__(self, client: RedisClient, key: str) -> None:
        self.client = client
        self.key = key

    async def add(self, session_ids: Iterable[str]) -> None:
        if members := list(session_ids):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.sadd(self.key, *members)
                pipe.expire(self.key, LEDGER_TTL_SECONDS)
                await pipe.execute()

    async def remove(self, session_ids: Iterable[str]) -> None:
        if members := list(session_ids):
            await self.client.srem(self.key, *members)

    async def chunks(self) -> AsyncIterator[list[str]]:
        cursor = 0
        while True:
            cursor, members = await self.client.sscan(self.key, cursor, count=CHUNK)
            if members:
                yield [member.decode() if isinstance(member, bytes) else member for member in members]
            if cursor == 0:
                return
