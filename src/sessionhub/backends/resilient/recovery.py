"""Handing an outage back to the primary: the write-back after an empty restart, then the journal's replay.

Every step is idempotent (`restore`, a tombstone's delete, a replayed message), so a replay cut short by another
failure simply runs again at the next probe. Replay never brings back a session ended during the outage: ends are
tombstones, and a session that existed before the outage is written back only if the primary still holds it
(unless the primary lost everything), so a logout on another node meanwhile wins too.

An entry the primary refuses for what it holds rather than for being down (data it cannot store) would fail every
replay and keep the breaker open for good: it is quarantined instead, logged with its session id and counted
(`journal_quarantined`), and the replay goes on with the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard, TypeVar

from sessionhub.backends.base import SessionBackend
from sessionhub.backends.resilient.breaker import FAILURES
from sessionhub.backends.resilient.journal import Entry, Restore, Tombstone
from sessionhub.backends.resilient.near_cache import NearCache
from sessionhub.backends.resilient.outage import Outage

T = TypeVar("T")

logger = logging.getLogger("sessionhub")

REPLAY_BATCH = 64
"""Journal entries replayed concurrently (they are about different sessions, and each is idempotent)."""

REPLAY_ROUNDS = 3
"""Passes over the journal while calls still flow (and journal more) before the rest is replayed with calls held."""


class Replay:
    def __init__(
        self,
        primary: SessionBackend,
        outage: Outage,
        near_cache: NearCache,
        counts: Counter[str],
        *,
        timed: Callable[[Awaitable[Any]], Awaitable[Any]],
        clock: Callable[[], int],
    ) -> None:
        self.primary = primary
        self.outage = outage
        self.near_cache = near_cache
        self.counts = counts
        self._timed = timed
        """Runs a primary call under the per-call timeout."""
        self._clock = clock
        """The latest time a caller passed in: replays judge liveness by it."""

    async def write_back(self) -> None:
        """The primary restarted empty: hand it every session of the near cache (the journal follows)."""
        journal = self.outage.journal
        records = [record for record in self.near_cache.records() if journal.restores(record.id) is None]
        for start in range(0, len(records), REPLAY_BATCH):
            batch = records[start : start + REPLAY_BATCH]
            now = self._clock()
            restores = (
                self.primary.restore(record, now, data_changed=True, replaces=None, if_replaced_exists=False)
                for record in batch
            )
            results = await asyncio.gather(*(self._timed(call) for call in restores), return_exceptions=True)
            for record, result in zip(batch, results, strict=True):
                if _refused(result):
                    self._quarantine(record.id, "write-back", result)
                    self.near_cache.discard(record.id)
            _raise_first(results)
            self.counts["sessions_written_back"] += sum(result is True for result in results)

    async def run(self, lost: bool, hold_calls: Callable[[], None]) -> int:
        """Replay the journal while calls keep being served (and journalled) by the fallback; if they journal faster
        than the primary absorbs, `hold_calls` for the last stretch, so that the replay always ends. Returns how
        many entries were replayed."""
        journal = self.outage.journal
        replayed = 0
        for _ in range(REPLAY_ROUNDS):
            if not len(journal):
                return replayed
            replayed += await self._entries(len(journal), lost)
        if not len(journal):
            return replayed
        hold_calls()
        return replayed + await self._entries(None, lost)

    async def _entries(self, limit: int | None, lost: bool) -> int:
        journal = self.outage.journal
        replayed = 0
        while limit is None or replayed < limit:
            batch = journal.head(REPLAY_BATCH if limit is None else min(REPLAY_BATCH, limit - replayed))
            if not batch:
                break
            for _, entry in batch:
                if isinstance(entry, Restore):  # from now on it may be in the primary: ending it needs a tombstone
                    self.outage.born.discard(entry.record.id)
            results = await asyncio.gather(*(self._apply(entry, lost) for _, entry in batch), return_exceptions=True)
            for (key, entry), result in zip(batch, results, strict=True):
                if _refused(result):
                    self._quarantine(key, type(entry).__name__, result)
                if result is None or _refused(result):
                    journal.done(key, entry)
            replayed += len(batch)
            self.counts["journal_replayed"] += len(batch)
            _raise_first(results)
        return replayed

    async def _apply(self, entry: Entry, lost: bool) -> None:
        now = self._clock()
        if isinstance(entry, Restore):
            # A session that existed before the outage comes back only if the primary still has it: otherwise it
            # was ended elsewhere meanwhile. Unless the primary lost everything, which is what the write-back is for.
            written = await self._timed(
                self.primary.restore(
                    entry.record,
                    now,
                    data_changed=entry.data_changed,
                    replaces=entry.origin,
                    if_replaced_exists=entry.origin is not None and not lost,
                )
            )
            if not written:  # the primary's version won, or the session ended there: drop what this process holds
                self.near_cache.discard(entry.record.id)
            elif lost:
                self.counts["sessions_written_back"] += 1
            await self._flush_outbox(entry.record.id, now)
        elif isinstance(entry, Tombstone):
            for session_id in entry.ids:
                await self._timed(self.primary.delete(session_id, now))
        else:
            # Sessions this process held during the outage have entries of their own (a restore if they live on, a
            # tombstone if they ended); the others end if they existed when the user signed out everywhere.
            for record in await self._timed(self.primary.list_user(entry.user_id, now)):
                if record.created_at <= entry.at and record.id not in self.outage.held:
                    await self._timed(self.primary.delete(record.id, now))

    def _quarantine(self, key: str | int, what: str, error: BaseException) -> None:
        """Drop an entry the primary refuses for good. A user's sign-out everywhere has a serial, not a session id."""
        self.counts["journal_quarantined"] += 1
        about = f"session {key}" if isinstance(key, str) else "a sign-out everywhere"
        logger.error(
            "quarantined the journal's %s for %s: the primary refused it (%s); the rest replays",
            what, about, type(error).__name__,
            extra={
                "event": "journal_quarantined",
                "session_id": key if isinstance(key, str) else None,
                "error": type(error).__name__,
            },
        )  # fmt: skip

    async def _flush_outbox(self, session_id: str, now: int) -> None:
        """Append what the outage added to a session's conversation, oldest first. Each message leaves the outbox
        once the primary has it, so a replay cut short by another failure resumes where it stopped; `replay` keeps a
        message the primary got after all (an append that timed out but went through) from appearing twice, and
        leaves the deadline to the session's restore."""
        outbox = self.outage.outbox
        pending = outbox.get(session_id, [])
        while pending:
            message, cap = pending[0]
            if await self._timed(self.primary.append_message(session_id, message, cap, now, replay=True)) is None:
                break  # the session ended in the primary: its messages end with it
            del pending[0]
        outbox.pop(session_id, None)


def _refused(result: object) -> TypeGuard[Exception]:
    """An entry's replay failed for the entry itself, not because the primary is unavailable: it would fail again."""
    return isinstance(result, Exception) and not isinstance(result, FAILURES)


def _raise_first(results: list[Any]) -> None:
    """Re-raise the first failure of a batch run with `gather(return_exceptions=True)`, once all of it finished;
    quarantined entries (`_refused`) are not failures of the replay."""
    for result in results:
        if isinstance(result, BaseException) and not _refused(result):
            raise result
