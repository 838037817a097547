"""Move the sessions of a legacy store into sessionhub, keep them in step while the legacy application still
serves, check that they arrived, and only then clean up.

Each pass walks the source's key spaces a page at a time (`sessionhub.migrate.readers`: one SCAN and one script call
on a legacy Redis, one query on a database), the source decodes it, the manager checks and encodes it, and one
pipelined round trip imports it. Imports are idempotent and re-sync (`LegacyStore.import_sessions`): a session
whose source record changed since its import is brought up to date while it waits for its browser, and reported as
a conflict once its browser adopted it (sessionhub's copy is kept). A complete pass also ends, in sessionhub, the
waiting sessions whose legacy record is gone (a legacy logout), found through the `ImportLedger`.

A migration can be stopped anywhere and run again; with a checkpoint it resumes after the last finished batch. The
source may be another Redis server or database than sessionhub's: it is only ever read, except by
`delete_source`, which refuses to run without a verification that passed and deletes a record only if it still
holds what was imported (`LegacyReader.delete_unchanged`, atomic on the source).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from redis.asyncio import Redis

from sessionhub.backends.base import ImportedSession, ImportMarker, ImportOutcome, import_outcome
from sessionhub.errors import ConfigurationError, SessionDataError, SessionHubError
from sessionhub.events import SYSTEM
from sessionhub.legacy import legacy_alias_id
from sessionhub.manager import SessionManager
from sessionhub.migrate.checkpoint import Checkpoint, CheckpointState
from sessionhub.migrate.ledger import ImportLedger
from sessionhub.migrate.readers import KeySpace, LegacyReader, Page, RedisReader
from sessionhub.migrate.records import LegacyRecord, RecordError
from sessionhub.migrate.report import (
    DeleteReport,
    InvalidRecord,
    MigrationReport,
    VerifyReport,
    record_hint,
    record_ref,
)
from sessionhub.migrate.sources.base import MigrationSource

DEFAULT_BATCH_SIZE = 500
IN_FLIGHT = 4
"""Batches being imported at once while the next one is read: the reads, the decoding in this process and the
imports in sessionhub's Redis overlap."""
Progress = Callable[[int], None]
"""Called after each batch with the number of keys this pass has read."""

ENDED_IN_SOURCE = "deleted in the legacy store"
"""The reason in the security log of a migrated session ended because its legacy record was deleted."""

_CONFLICTS = {
    "conflict_adopted": "changed in the legacy store after its import, and adopted by its browser since: sessionhub's "
    "copy is kept",
    "conflict_ended": "changed in the legacy store after its import, and ended in sessionhub since (revoked or "
    "expired): it stays ended",
}
_KEPT = {
    "pending": "changed since its import: run the migration again to bring the change over, then delete",
    "adopted": _CONFLICTS["conflict_adopted"],
    "ended": _CONFLICTS["conflict_ended"],
}


def source_identity(source: MigrationSource, reader: LegacyReader) -> str:
    """The source's settings and where it is (no credentials): a cursor means nothing in another store, and two
    sources must not share a ledger."""
    return f"{source.describe()}@{reader.location}"


def source_key(identity: str) -> str:
    """A short, stable name for a source in key names (its identity may hold any character)."""
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


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
    conflicts: list[InvalidRecord] = field(default_factory=list)
    outcomes: Sequence[ImportOutcome] = ()


@dataclass(frozen=True, slots=True)
class _Fetched:
    """One page of the source, as read, and the migration clock (ms) when it was read."""

    page: Page
    read_at: int


Position = tuple[int, str]
"""Where a pass is: the index of a key space and a reader's cursor in it."""
_START: Position = (0, "")


_COUNTS = ("scanned", "migrated", "updated", "already_migrated", "expired", "batches")
"""The counts of a `MigrationReport` that a checkpoint carries over to the run that resumes it."""


class Migrator:
    def __init__(
        self,
        source: MigrationSource,
        source_client: Redis | LegacyReader,
        manager: SessionManager,
        *,
        checkpoint: Checkpoint | None = None,
        ledger: ImportLedger | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`source_client`: the legacy Redis, or a reader of the source's store (`sessionhub.migrate.readers`).
        `ledger` (one per source: `source_identity`) lets a complete pass end the sessions whose legacy record
        was deleted; without one, a legacy logout after the import is not followed."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        reader = source_client if isinstance(source_client, LegacyReader) else RedisReader(source_client)
        if reader.store != source.store:
            raise ConfigurationError(f"the {source.name} source reads a {source.store} store, not a {reader.store} one")
        self.source = source
        self.reader = reader
        self.manager = manager
        self.checkpoint = checkpoint
        self.ledger = ledger
        self.batch_size = batch_size
        self._clock = clock

    # -- migrate ------------------------------------------------------------------------------------------------

    async def run(
        self,
        *,
        dry_run: bool = False,
        max_batches: int | None = None,
        progress: Progress | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> MigrationReport:
        """One pass: import every record, or bring it up to date (a dry run writes nothing, not even a checkpoint,
        and reports what it would do).

        With `max_batches`, or when `stop()` turns true, stop after the batch in hand (`completed` is then False); a
        checkpoint lets the next run resume there. A completed pass clears its checkpoint, so running it again
        re-reads everything: a re-sync. A pass that read the whole source (not resumed) ends the sessions still
        waiting for their browser whose legacy record is gone (`ended_in_source`).
        """
        started = time.perf_counter()
        report = MigrationReport(source=source_identity(self.source, self.reader), dry_run=dry_run)
        position = _START
        checkpoint = None if dry_run else self.checkpoint
        if checkpoint is not None and (saved := await checkpoint.load()) is not None:
            position = self._resume(report, saved)
        # Which sessions the source still holds, for the ledger: only a pass that reads all of it can tell.
        seen: set[str] | None = set() if self.ledger is not None and not dry_run and position == _START else None
        # Up to IN_FLIGHT batches are being imported while the next one is read and decoded; they are counted and
        # checkpointed in order, so that a checkpoint never covers a batch whose import has not finished.
        in_flight: deque[tuple[asyncio.Task[None], _Batch, Position | None]] = deque()
        stopped = False
        try:
            async with aclosing(self._batches(position, progress)) as batches:
                async for batch, next_position in batches:
                    in_flight.append((asyncio.create_task(self._import(batch, dry_run, seen)), batch, next_position))
                    if next_position is None:
                        break
                    limit_reached = max_batches is not None and len(in_flight) + report.batches >= max_batches
                    if limit_reached or (stop is not None and stop()):
                        stopped = True
                        break
                    while len(in_flight) >= IN_FLIGHT:
                        await self._finish(*in_flight.popleft(), report, checkpoint)
            while in_flight:
                await self._finish(*in_flight.popleft(), report, checkpoint)
        finally:
            for task, _, _ in in_flight:
                task.cancel()
        if stopped:
            report.elapsed = time.perf_counter() - started
            return report
        if seen is not None:
            report.ended_in_source = await self._end_deleted(seen)
        report.completed = True
        if checkpoint is not None:
            await checkpoint.clear()
        report.elapsed = time.perf_counter() - started
        return report

    def _resume(
        self, report: MigrationReport, saved: tuple[CheckpointState, list[InvalidRecord], list[InvalidRecord]]
    ) -> Position:
        state, invalid, conflicts = saved
        if state.source != report.source:
            raise MigrationError(
                "the checkpoint was left by a migration from another source or with other settings "
                f"({state.source}); finish that one, or start over with a fresh checkpoint"
            )
        report.resumed = True
        for name in _COUNTS:
            setattr(report, name, state.counts.get(name, 0))
        report.kinds.update(state.kinds)
        report.invalid = invalid
        report.conflicts = conflicts
        return state.keyspace, state.cursor

    @staticmethod
    def _state(report: MigrationReport, position: Position) -> CheckpointState:
        keyspace, cursor = position
        counts = {name: getattr(report, name) for name in _COUNTS}
        return CheckpointState(report.source, keyspace, cursor, counts, dict(report.kinds))

    async def _import(self, batch: _Batch, dry_run: bool, seen: set[str] | None) -> None:
        sessions = [item.session for item in batch.prepared]
        if dry_run:
            markers = await self.manager.import_markers([session.record.id for session in sessions])
            batch.outcomes = [
                import_outcome(marker, session.source_digest) for session, marker in zip(sessions, markers, strict=True)
            ]
        else:
            batch.outcomes = await self.manager.import_sessions(sessions)
        if seen is not None and self.ledger is not None:
            imported = [session.record.id for session in sessions]
            seen.update(imported)
            await self.ledger.add(imported)

    async def _finish(
        self,
        task: asyncio.Task[None],
        batch: _Batch,
        next_position: Position | None,
        report: MigrationReport,
        checkpoint: Checkpoint | None,
    ) -> None:
        """Wait for a batch's import, count it, and checkpoint the position after it."""
        await task
        report.batches += 1
        report.scanned += batch.scanned
        report.expired += batch.expired
        report.invalid.extend(batch.invalid)
        for item, outcome in zip(batch.prepared, batch.outcomes, strict=True):
            if outcome == "new":
                report.migrated += 1
                report.kinds[item.session.record.kind] += 1
            elif outcome == "updated":
                report.updated += 1
            elif outcome == "unchanged":
                report.already_migrated += 1
            else:
                batch.conflicts.append(InvalidRecord(item.ref, _CONFLICTS[outcome]))
        report.conflicts.extend(batch.conflicts)
        if checkpoint is not None and next_position is not None:
            await checkpoint.save(self._state(report, next_position), batch.invalid, batch.conflicts)

    async def _end_deleted(self, seen: set[str]) -> int:
        """End the sessions in the ledger that this complete pass did not see and that still wait for their
        browser: their legacy record was deleted (a logout there) or expired. All unseen ones leave the ledger."""
        assert self.ledger is not None
        ended = 0
        async for chunk in self.ledger.chunks():
            gone = [session_id for session_id in chunk if session_id not in seen]
            if not gone:
                continue
            markers = await self.manager.import_markers(gone)
            waiting = [sid for sid, marker in zip(gone, markers, strict=True) if marker and marker.status == "pending"]
            revoked = await asyncio.gather(
                *(self.manager.revoke(session_id, actor=SYSTEM, reason=ENDED_IN_SOURCE) for session_id in waiting)
            )
            ended += sum(revoked)
            await self.ledger.remove(gone)
        return ended

    # -- verify -------------------------------------------------------------------------------------------------

    async def verify(self, *, sample_size: int = 100, progress: Progress | None = None) -> VerifyReport:
        """Check that every live, valid legacy record has been migrated and that none changed since its import
        without being brought over (`stale`), and compare a random sample of the migrated sessions that are still
        waiting for their browser with their legacy records, field by field. Conflicts (a record changed after
        its session was adopted or ended in sessionhub) are counted, not failures: sessionhub's copy wins."""
        report = VerifyReport()
        sample: list[_Prepared] = []
        seen_pending = 0
        async for batch, _ in self._batches(_START, progress):
            report.invalid += len(batch.invalid)
            report.source_sessions += len(batch.prepared)
            markers = await self.manager.import_markers([item.session.record.id for item in batch.prepared])
            for item, marker in zip(batch.prepared, markers, strict=True):
                if marker is None:
                    report.missing.append(item.ref)
                    continue
                changed = marker.source_digest != item.session.source_digest
                if marker.status == "pending":
                    report.pending += 1
                    if changed:
                        report.stale.append(item.ref)
                    else:
                        seen_pending += 1
                        _reservoir(sample, item, seen_pending, sample_size)
                elif marker.status == "adopted":
                    report.adopted += 1
                else:
                    report.ended += 1
                report.conflicts += changed and marker.status != "pending"
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

        A record is deleted only if it still holds what was imported (its digest is the import marker's), checked
        and deleted in one script on the source. Kept, each listed with why: records not migrated, invalid ones,
        and those the legacy application changed since their import (a user still on the old cookie), even while
        this pass ran: deleting those would lose the newer copy.
        """
        if not verified.ok:
            raise MigrationError("the verification did not pass; the legacy store was left untouched")
        report = DeleteReport()
        async for batch, _ in self._batches(_START, progress):
            report.kept_invalid += len(batch.invalid)
            markers = await self.manager.import_markers([item.session.record.id for item in batch.prepared])
            migrated: list[tuple[_Prepared, ImportMarker]] = []
            for item, marker in zip(batch.prepared, markers, strict=True):
                if marker is None:
                    report.kept_not_migrated += 1
                elif marker.source_digest != item.session.source_digest:
                    report.kept.append(InvalidRecord(item.ref, _KEPT[marker.status]))
                else:
                    migrated.append((item, marker))
            deleted_flags = await self.reader.delete_unchanged(
                [(item.record.key, marker.source_digest) for item, marker in migrated]
            )
            deleted = [item for (item, _), flag in zip(migrated, deleted_flags, strict=True) if flag]
            for (item, _), flag in zip(migrated, deleted_flags, strict=True):
                if not flag:
                    report.kept.append(InvalidRecord(item.ref, "changed while this pass ran"))
            report.deleted += len(deleted)
            if deleted:
                if self.ledger is not None:
                    await self.ledger.remove(item.session.record.id for item in deleted)
                await self.source.forget(self.reader, [item.record for item in deleted])
        report.kept_changed = len(report.kept)
        return report

    # -- reading the source -------------------------------------------------------------------------------------

    async def _batches(
        self, position: Position, progress: Progress | None
    ) -> AsyncGenerator[tuple[_Batch, Position | None]]:
        """Each batch from `position` (key space, cursor) on, with the position after it (None at the end).

        The source prepares (`MigrationSource.prepare`) while the first batch is read, and each batch is read while
        the one before it is decoded and imported: the legacy Redis and this process work at the same time."""
        keyspaces = self.source.keyspaces
        scanned = 0
        # A key may come twice (SCAN repeats one when the keyspace is resized meanwhile, as deleting the source does);
        # an invalid record is reported once. Valid ones need no such memory: importing and deleting are idempotent.
        reported: set[bytes] = set()
        preparing = asyncio.create_task(self.source.prepare(self.reader))
        fetching: asyncio.Task[_Fetched] | None = asyncio.create_task(self._fetch(keyspaces[position[0]], position[1]))
        try:
            await preparing
            index = position[0]
            while fetching is not None:
                fetched = await fetching
                after: Position | None
                if fetched.page.cursor is not None:
                    after = (index, fetched.page.cursor)
                else:
                    after = (index + 1, "") if index + 1 < len(keyspaces) else None
                fetching = asyncio.create_task(self._fetch(keyspaces[after[0]], after[1])) if after else None
                batch = self._read(keyspaces[index], fetched, reported)
                scanned += batch.scanned
                if progress is not None:
                    progress(scanned)
                yield batch, after
                index = after[0] if after else index
        finally:
            for task in (preparing, fetching):
                if task is not None:
                    task.cancel()

    async def _fetch(self, keyspace: KeySpace, cursor: str) -> _Fetched:
        read_at = int(self._clock() * 1000)
        return _Fetched(await self.reader.page(keyspace, cursor, self.batch_size, read_at), read_at)

    def _read(self, keyspace: KeySpace, fetched: _Fetched, reported: set[bytes]) -> _Batch:
        rows, read_at = fetched.page.rows, fetched.read_at
        batch = _Batch([], [], 0, len(rows))

        def invalid(key: bytes, ref: str, reason: str) -> None:
            if key not in reported:
                reported.add(key)
                batch.invalid.append(
                    InvalidRecord(ref, reason, record_hint(value, ttl, digest.decode() if digest else None))
                )

        for key, value, ttl, digest in rows:
            token = self.source.cookie_value(key[len(keyspace.prefix.encode()) :].decode("ascii", errors="replace"))
            alias_id = legacy_alias_id(token)
            ref = record_ref(keyspace.prefix, alias_id)
            if isinstance(value, list):
                invalid(key, ref, f"it is a {value[0].decode()} key, not a string")
                continue
            if value is None or ttl == -2 or digest is None:
                batch.expired += 1  # expired, or deleted between listing and reading
                continue
            if alias_id is None:
                invalid(key, ref, "its id cannot be a cookie value (8-512 printable ASCII characters)")
                continue
            record = LegacyRecord(key, token, alias_id, value, digest.decode(), ttl if ttl >= 0 else None, read_at)
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
