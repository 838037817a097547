"""Where an interrupted migration resumes: the key space and SCAN cursor after the last finished batch, the counts so
far, and the invalid records found so far.

A checkpoint is written after each batch has been imported. A migration stopped between an import and its
checkpoint imports that batch again when resumed, which the import markers turn into "already migrated": nothing is
duplicated, and SCAN's guarantee (every key present for the whole scan is returned) means nothing is skipped.
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
    cursor: int
    counts: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)


class Checkpoint(abc.ABC):
    @abc.abstractmethod
    async def load(self) -> tuple[CheckpointState, list[InvalidRecord]] | None: ...

    @abc.abstractmethod
    async def save(self, state: CheckpointState, new_invalid: Sequence[InvalidRecord]) -> None:
        """Record the state after a batch, adding the invalid records that batch found."""

    @abc.abstractmethod
    async def clear(self) -> None: ...


class MemoryCheckpoint(Checkpoint):
    """Kept by this process: resumes a migration that stopped (an error, a batch limit) within the same program."""

    def __init__(self) -> None:
        self._state: CheckpointState | None = None
        self._invalid: list[InvalidRecord] = []

    async def load(self) -> tuple[CheckpointState, list[InvalidRecord]] | None:
        return (self._state, list(self._invalid)) if self._state is not None else None

    async def save(self, state: CheckpointState, new_invalid: Sequence[InvalidRecord]) -> None:
        self._state = CheckpointState(**asdict(state))
        self._invalid.extend(new_invalid)

    async def clear(self) -> None:
        self._state = None
        self._invalid.clear()


class RedisCheckpoint(Checkpoint):
    """A string key with the state and a list of invalid records beside it, written together in one transaction."""

    def __init__(self, client: RedisClient, key: str) -> None:
        self.client = client
        self.key = key
        self.invalid_key = f"{key}:invalid"

    async def load(self) -> tuple[CheckpointState, list[InvalidRecord]] | None:
        raw = await self.client.get(self.key)
        if raw is None:
            return None
        entries = await self.client.lrange(self.invalid_key, 0, -1)
        invalid = [InvalidRecord(**orjson.loads(entry)) for entry in entries]
        return CheckpointState(**orjson.loads(raw)), invalid

    async def save(self, state: CheckpointState, new_invalid: Sequence[InvalidRecord]) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.key, orjson.dumps(asdict(state)), ex=CHECKPOINT_TTL_SECONDS)
            if new_invalid:
                pipe.rpush(self.invalid_key, *(orjson.dumps(asdict(entry)) for entry in new_invalid))
            pipe.expire(self.invalid_key, CHECKPOINT_TTL_SECONDS)
            await pipe.execute()

    async def clear(self) -> None:
        await self.client.delete(self.key, self.invalid_key)
