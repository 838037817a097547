"""Where an interrupted migration resumes: the key space and cursor after the last finished batch, the counts so
far, and the invalid records and conflicts found so far.

A checkpoint is written after each batch has been imported. A migration stopped between an import and its
checkpoint imports that batch again when resumed, which the import markers turn into "already migrated": nothing is
duplicated, and a reader's guarantee (every record present for the whole walk is returned) means nothing is skipped.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import orjson

from sessionhub.backends.redis.connect import RedisClient
from sessionhub.migrate.report import InvalidRecord

CHECKPOINT_TTL_SECONDS = 30 * 86_400
"""A checkpoint left by a migration nobody resumed goes away after this long."""


@dataclass(slots=True)
class CheckpointState:
    source: str
    """`MigrationSource.describe()` of the migration that wrote it; another source must not resume it."""
    keyspace: int
    cursor: str
    """The reader's cursor in that key space ("" its start)."""
    counts: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)


class Checkpoint(abc.ABC):
    @abc.abstractmethod
    async def load(self) -> tuple[CheckpointState, list[InvalidRecord], list[InvalidRecord]] | None:
        """The state, the invalid records and the conflicts found so far; None when there is no checkpoint."""

    @abc.abstractmethod
    async def save(
        self, state: CheckpointState, new_invalid: Sequence[InvalidRecord], new_conflicts: Sequence[InvalidRecord]
    ) -> None:
        """Record the state after a batch, adding the invalid records and the conflicts that batch found."""

    @abc.abstractmethod
    async def clear(self) -> None: ...


class MemoryCheckpoint(Checkpoint):
    """Kept by this process: resumes a migration that stopped (an error, a batch limit) within the same program."""

    def __init__(self) -> None:
        self._state: CheckpointState | None = None
        self._invalid: list[InvalidRecord] = []
        self._conflicts: list[InvalidRecord] = []

    async def load(self) -> tuple[CheckpointState, list[InvalidRecord], list[InvalidRecord]] | None:
        return (self._state, list(self._invalid), list(self._conflicts)) if self._state is not None else None

    async def save(
        self, state: CheckpointState, new_invalid: Sequence[InvalidRecord], new_conflicts: Sequence[InvalidRecord]
    ) -> None:
        self._state = CheckpointState(**asdict(state))
        self._invalid.extend(new_invalid)
        self._conflicts.extend(new_conflicts)

    async def clear(self) -> None:
        self._state = None
        self._invalid.clear()
        self._conflicts.clear()


class RedisCheckpoint(Checkpoint):
    """A string key with the state, and beside it lists of the invalid records and of the conflicts, written together
    in one transaction (the key names share a hash tag: `{migration}` in the CLI's)."""

    def __init__(self, client: RedisClient, key: str) -> None:
        self.client = client
        self.key = key
        self.invalid_key = f"{key}:invalid"
        self.conflicts_key = f"{key}:conflicts"

    async def load(self) -> tuple[CheckpointState, list[InvalidRecord], list[InvalidRecord]] | None:
        raw = await self.client.get(self.key)
        if raw is None:
            return None
        lists = []
        for key in (self.invalid_key, self.conflicts_key):
            lists.append([InvalidRecord(**orjson.loads(entry)) for entry in await self.client.lrange(key, 0, -1)])
        return CheckpointState(**orjson.loads(raw)), lists[0], lists[1]

    async def save(
        self, state: CheckpointState, new_invalid: Sequence[InvalidRecord], new_conflicts: Sequence[InvalidRecord]
    ) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.key, orjson.dumps(asdict(state)), ex=CHECKPOINT_TTL_SECONDS)
            for key, entries in ((self.invalid_key, new_invalid), (self.conflicts_key, new_conflicts)):
                if entries:
                    pipe.rpush(key, *(orjson.dumps(asdict(entry)) for entry in entries))
                pipe.expire(key, CHECKPOINT_TTL_SECONDS)
            await pipe.execute()

    async def clear(self) -> None:
        await self.client.delete(self.key, self.invalid_key, self.conflicts_key)
