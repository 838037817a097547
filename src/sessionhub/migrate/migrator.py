"""Move the sessions of a legacy Redis store into sessionhub, check that they arrived, and only then clean up.

Each pass walks the source's key spaces with SCAN, a batch at a time: one pipelined round trip reads the batch
(GET and PTTL of each key), the source decodes it, the manager checks and encodes it, and one pipelined round trip
imports it. Imports are idempotent (see `sessionhub.legacy`), so a migration can be stopped anywhere and run again;
with a checkpoint it resumes after the last finished batch instead of starting over.

The source may be another Redis server or database than sessionhub's: it is only ever read, except by
`delete_source`, which refuses to run without a verification that passed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from sessionhub.backends.base import ImportedSession
from sessionhub.errors import ConfigurationError, SessionDataError, SessionHubError
from sessionhub.legacy import legacy_alias_id
from sessionhub.manager import SessionManager
from sessionhub.migrate.checkpoint import Checkpoint, CheckpointState
from sessionhub.migrate.records import LegacyRecord, RecordError
from sessionhub.migrate.report import DeleteReport, InvalidRecord, MigrationReport, VerifyReport, record_ref
from sessionhub.migrate.sources.base import KeySpace, MigrationSource

DEFAULT_BATCH_SIZE = 500
Progress = Callable[[int], None]
"""Called after each batch with the number of keys this pass has read."""

# Read a batch of legacy keys in one command rather than two per key: the value and remaining TTL of each (PTTL's
# -1: none, -2: gone). A key of another type reads as {its type}. The source is a single Redis (SCAN does not walk
# a cluster), so the keys of a batch may be anywhere.
# KEYS: the keys. Returns value, ttl, value, ttl, ...
_READ_BATCH = """
local out = {}
for _, key in ipairs(KEYS) do
  local value = redis.pcall('GET', key)
  if type(value) == 'table' and value.err then value = {redis.call('TYPE', key).ok} end
  out[#out + 1] = value
  out[#out + 1] = redis.call('PTTL', key)
end
return out
"""

# Delete a legacy key only if it still holds the value this pass read and checked: its application may be writing.
# KEYS: the key. ARGV: the value read. Returns 1 when deleted.
_DELETE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class MigrationError(SessionHubError):
    """The migration cannot go on as asked (a checkpoint of another source, a failed verification)."""


@dataclass(slots=True)
class _Prepared:
    """A record that can be imported: the record as read, its reference, and what to store."""

    record: LegacyRecord
    ref: str
    session: ImportedSession


@dataclass(slots=True)
class _Batch:
    prepared: list[_Prepared]
    invalid: list[InvalidRecord]
    expired: int
    scanned: int


class Migrator:
    def __init__(
        self,
        source: MigrationSource,
        source_client: Redis,
        manager: SessionManager,
        *,
        checkpoint: Checkpoint | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if source_client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigurationError("the source Redis client needs decode_responses=False (values are bytes)")
        self.source = source
        self.source_client = source_client
        self.manager = manager
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self._clock = clock
        self._delete_if_unchanged = source_client.register_script(_DELETE_IF_UNCHANGED)
        self._read_batch = source_client.register_script(_READ_BATCH)

    # -- migrate ------------------------------------------------------------------------------------------------

    async def run(
        self, *, dry_run: bool = False, max_batches: int | None = None, progress: Progress | None = None
    ) -> MigrationReport:
        """Migrate every record (a dry run writes nothing, not even a checkpoint, and reports what it would do).

        With `max_batches`, stop after that many batches (`completed` is then False); a checkpoint lets the next
        run resume there. A completed migration clears its checkpoint, so running it again re-reads everything and
        finds it already migrated, plus whatever the legacy application created meanwhile.
        """
        started = time.perf_counter()
        report = MigrationReport(source=self._source_identity(), dry_run=dry_run)
        position = (0, 0)
        checkpoint = None if dry_run else self.checkpoint
        if checkpoint is not None and (saved := await checkpoint.load()) is not None:
            position = self._resume(report, *saved)
        await self.source.prepare(self.source_client)
        batches = 0
        async for batch, next_position in self._batches(position, progress):
            await self._migrate(batch, report, dry_run=dry_run)
            batches += 1
            report.batches += 1
            if next_position is None:
                break  # the checkpoint is cleared below; were it not, the last batch would just be re-read
            if checkpoint is not None:
                await checkpoint.save(self._state(report, next_position), batch.invalid)
            if max_batches is not None and batches >= max_batches:
                report.elapsed = time.perf_counter() - started
                return report
        report.completed = True
        if checkpoint is not None:
            await checkpoint.clear()
        report.elapsed = time.perf_counter() - started
        return report

    def _source_identity(self) -> str:
        """The source's settings and where it is (no credentials): a SCAN cursor means nothing on another server."""
        where = self.source_client.connection_pool.connection_kwargs
        location = where.get("path") or f"{where.get('host', 'localhost')}:{where.get('port', 6379)}"
        return f"{self.source.describe()}@{location}/{where.get('db', 0)}"

    def _resume(self, report: MigrationReport, state: CheckpointState, invalid: list[InvalidRecord]) -> tuple[int, int]:
        if state.source != report.source:
            raise MigrationError(
                "the checkpoint was left by a migration from another source or with other settings "
                f"({state.source}); finish that one, or start over with a fresh checkpoint"
            )
        report.resumed = True
        report.scanned = state.counts.get("scanned", 0)
        report.migrated = state.counts.get("migrated", 0)
        report.already_migrated = state.counts.get("already_migrated", 0)
        report.expired = state.counts.get("expired", 0)
        report.batches = state.counts.get("batches", 0)
        report.kinds.update(state.kinds)
        report.invalid = invalid
        return state.keyspace, state.cursor

    @staticmethod
    def _state(report: MigrationReport, position: tuple[int, int]) -> CheckpointState:
        keyspace, cursor = position
        counts = {
            "scanned": report.scanned,
            "migrated": report.migrated,
            "already_migrated": report.already_migrated,
            "expired": report.expired,
            "batches": report.batches,
        }
        return CheckpointState(report.source, keyspace, cursor, counts, dict(report.kinds))

    async def _migrate(self, batch: _Batch, report: MigrationReport, *, dry_run: bool) -> None:
        report.scanned += batch.scanned
        report.expired += batch.expired
        report.invalid.extend(batch.invalid)
        sessions = [item.session for item in batch.prepared]
        if dry_run:
            statuses = await self.manager.import_status([session.record.id for session in sessions])
            stored = [status is None for status in statuses]
        else:
            stored = await self.manager.import_sessions(sessions)
        for session, is_new in zip(sessions, stored, strict=True):
            if is_new:
                report.migrated += 1
                report.kinds[session.record.kind] += 1
            else:
                report.already_migrated += 1

    # -- verify -------------------------------------------------------------------------------------------------

    async def verify(self, *, sample_size: int = 100, progress: Progress | None = None) -> VerifyReport:
        """Check that every live, valid legacy record has been migrated, and compare a random sample of the
        migrated sessions that are still waiting for their browser with their legacy records, field by field."""
        report = VerifyReport()
        sample: list[_Prepared] = []
        seen_pending = 0
        await self.source.prepare(self.source_client)
        async for batch, _ in self._batches((0, 0), progress):
            report.invalid += len(batch.invalid)
            report.source_sessions += len(batch.prepared)
            statuses = await self.manager.import_status([item.session.record.id for item in batch.prepared])
            for item, status in zip(batch.prepared, statuses, strict=True):
                if status is None:
                    report.missing.append(item.ref)
                elif status == "pending":
                    report.pending += 1
                    seen_pending += 1
                    _reservoir(sample, item, seen_pending, sample_size)
                elif status == "adopted":
                    report.adopted += 1
                else:
                    report.ended += 1
        for item in sample:
            report.sampled += 1
            difference = await self._compare(item)
            if difference is not None:
                report.mismatched.append(InvalidRecord(item.ref, difference))
        return report

    async def _compare(self, item: _Prepared) -> str | None:
        expected = item.session.record
        stored = await self.manager.peek(expected.id)
        if stored is None:
            return None  # ended between the count and the comparison: nothing to compare
        if (stored.user_id, stored.kind) != (expected.user_id, expected.kind):
            return "its user or kind differs in sessionhub"
        expected_data = {key: self.manager.codec.decode(raw) for key, raw in expected.data.items()}
        if dict(stored.data) != expected_data:
            keys = sorted(
                key
                for key in expected_data.keys() | stored.data.keys()
                if stored.data.get(key, ...) != expected_data.get(key, ...)
            )
            return f"its data differs in sessionhub (keys {', '.join(map(repr, keys))})"
        if stored.client != expected.client:
            return "its client address or user agent differs in sessionhub"
        return None

    # -- delete the source --------------------------------------------------------------------------------------

    async def delete_source(self, verified: VerifyReport, *, progress: Progress | None = None) -> DeleteReport:
        """Delete the legacy records that are in sessionhub, once `verified` (a verification of this source) passed.

        Kept: records not migrated, invalid ones, and those whose sessionhub copy is not what they hold now: the
        legacy application changed them after their import (a user still on the old cookie) or during this pass.
        Deleting those would lose the newer copy; each is listed with its difference. A session already adopted
        or ended in sessionhub no longer depends on its legacy record, which is deleted whatever it holds.
        """
        if not verified.ok:
            raise MigrationError("the verification did not pass; the legacy store was left untouched")
        report = DeleteReport()
        await self.source.prepare(self.source_client)
        async for batch, _ in self._batches((0, 0), progress):
            report.kept_invalid += len(batch.invalid)
            statuses = await self.manager.import_status([item.session.record.id for item in batch.prepared])
            migrated = [item for item, status in zip(batch.prepared, statuses, strict=True) if status is not None]
            report.kept_not_migrated += len(batch.prepared) - len(migrated)
            pending = [item for item, status in zip(batch.prepared, statuses, strict=True) if status == "pending"]
            differences = await asyncio.gather(*(self._compare(item) for item in pending))
            changed = {id(item) for item, difference in zip(pending, differences, strict=True) if difference}
            for item, difference in zip(pending, differences, strict=True):
                if difference is not None:
                    report.kept.append(InvalidRecord(item.ref, f"changed since its import: {difference}"))
            report.kept_changed += len(changed)
            migrated = [item for item in migrated if id(item) not in changed]
            async with self.source_client.pipeline(transaction=False) as pipe:
                for item in migrated:
                    await self._delete_if_unchanged(keys=[item.record.key], args=[item.record.value], client=pipe)
                deleted_flags = await pipe.execute() if migrated else []
            deleted = [item.record for item, flag in zip(migrated, deleted_flags, strict=True) if flag]
            for item, flag in zip(migrated, deleted_flags, strict=True):
                if not flag:
                    report.kept.append(InvalidRecord(item.ref, "changed while this pass ran"))
            report.deleted += len(deleted)
            report.kept_changed += len(migrated) - len(deleted)
            if deleted:
                await self.source.forget(self.source_client, deleted)
        return report

    # -- reading the source -------------------------------------------------------------------------------------

    async def _batches(
        self, position: tuple[int, int], progress: Progress | None
    ) -> AsyncIterator[tuple[_Batch, tuple[int, int] | None]]:
        """Each batch from `position` (key space, SCAN cursor) on, with the position after it (None at the end)."""
        start_keyspace, cursor = position
        keyspaces = self.source.keyspaces
        scanned = 0
        # SCAN may return a key twice when the keyspace is resized meanwhile (deleting the source does that); an
        # invalid record is reported once. Valid ones need no such memory: importing and deleting are idempotent.
        reported: set[bytes] = set()
        for index in range(start_keyspace, len(keyspaces)):
            keyspace = keyspaces[index]
            cursor = cursor if index == start_keyspace else 0
            while True:
                cursor, keys = await self.source_client.scan(cursor, match=keyspace.pattern(), count=self.batch_size)
                batch = await self._read(keyspace, cast(list[bytes], keys), reported)
                scanned += batch.scanned
                if progress is not None:
                    progress(scanned)
                if cursor != 0:
                    yield batch, (index, cursor)
                    continue
                yield batch, (index + 1, 0) if index + 1 < len(keyspaces) else None
                break

    async def _read(self, keyspace: KeySpace, keys: Sequence[bytes], reported: set[bytes]) -> _Batch:
        batch = _Batch([], [], 0, len(keys))
        if not keys:
            return batch

        def invalid(key: bytes, ref: str, reason: str) -> None:
            if key not in reported:
                reported.add(key)
                batch.invalid.append(InvalidRecord(ref, reason))

        replies = await self._read_batch(keys=list(keys))
        read_at = int(self._clock() * 1000)
        for key, value, ttl in zip(keys, replies[0::2], replies[1::2], strict=True):
            token = self.source.cookie_value(key[len(keyspace.prefix.encode()) :].decode("ascii", errors="replace"))
            alias_id = legacy_alias_id(token)
            ref = record_ref(keyspace.prefix, alias_id)
            if isinstance(value, list):
                invalid(key, ref, f"it is a {value[0].decode()} key, not a string")
                continue
            if value is None or ttl == -2:
                batch.expired += 1  # gone between SCAN and GET: it expired or was deleted
                continue
            if alias_id is None:
                invalid(key, ref, "its id cannot be a cookie value (8-512 printable ASCII characters)")
                continue
            record = LegacyRecord(key, token, alias_id, value, ttl if ttl >= 0 else None, read_at)
            try:
                session = self.manager.prepare_import(self.source.decode(record, keyspace))
            except (RecordError, SessionDataError) as exc:
                invalid(key, ref, str(exc))
                continue
            if session is None:
                batch.expired += 1
            else:
                batch.prepared.append(_Prepared(record, ref, session))
        return batch


def _reservoir(sample: list[_Prepared], item: _Prepared, seen: int, size: int) -> None:
    """Keep a uniform random sample of `size` items from a stream (Algorithm R)."""
    if len(sample) < size:
        sample.append(item)
        return
    slot = secrets.randbelow(seen)
    if slot < size:
        sample[slot] = item
