"""ResilientBackend: Redis (or any primary store) first, memory while it is down, and nothing lost in between.

While the circuit breaker is closed every call goes to the primary under a short timeout, and the sessions it
returns are kept in a bounded near cache, which answers nothing while the breaker is closed (a read that fails
then raises BackendUnavailable: the near cache never hears of a session another process ended, and Redis is likely
still serving them). When the primary fails (a write at once, reads after `threshold` failures in a row) the
breaker opens, and calls are served by the fallback store (a `MemoryBackend`), with no call to the
primary at all: a session the fallback does not hold yet is adopted from the near cache on first use, so its user
stays signed in. Everything the fallback does is journalled (outage.py, journal.py).

A probe runs in the background once the backoff has passed; when the primary answers, the journal is replayed into
it (idempotently) and only then does the breaker close, so the primary never serves a state older than what the
users already saw. If the primary came back empty (a restart without persistence), the near cache is written back
first, so the users active before the outage stay signed in. Replay never brings back a session ended during the
outage: ends are tombstones, and a session that existed before the outage is written back only if the primary still
holds it (unless the primary lost everything), so a logout on another node meanwhile wins too.

Limits, by design: during an outage each process sees only the sessions it knew, so counts and user listings are
those of this process; and the near cache of one process does not hear of a session ended by another process,
which it may then serve during an outage (or write back after an empty restart) until the outage ends or that
session's own timeout, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sessionhub.backends.base import (
    NO_AUDIT,
    ROTATED_AWAY,
    Audit,
    ImportedSession,
    ImportMarker,
    ImportOutcome,
    RotatedAway,
    SessionBackend,
    SharedAbuseCounter,
    UserLimit,
)
from sessionhub.backends.memory import MemoryBackend
from sessionhub.backends.resilient.breaker import FAILURES, CircuitBreaker
from sessionhub.backends.resilient.near_cache import NearCache
from sessionhub.backends.resilient.outage import Outage
from sessionhub.backends.resilient.recovery import Replay
from sessionhub.errors import BackendUnavailable
from sessionhub.events import SecurityEvent
from sessionhub.model import ConversationRecord, DataChanges, SessionRecord, carries_over
from sessionhub.tokens import bucket_of

logger = logging.getLogger("sessionhub")

T = TypeVar("T")

LEGACY = "what migrated legacy sessions need"
"""Migrated legacy sessions live in the primary only: while it is out their calls raise BackendUnavailable, which
keeps everything as it was (a legacy cookie answered "no session" would be cleared, and its session lost)."""

_FAILED_AT_ONCE: contextvars.ContextVar[bool] = contextvars.ContextVar("sessionhub_failed_at_once", default=False)
"""Whether this task's last failed primary call failed at once rather than by timing out (each task its own)."""

STARTUP_TIMEOUT = 2.0
"""Seconds `open()` waits for the primary (connecting and loading scripts) before starting in fallback."""


class ResilientBackend(SessionBackend, SharedAbuseCounter):
    name = "resilient"

    def __init__(
        self,
        primary: SessionBackend,
        fallback: SessionBackend | None = None,
        *,
        call_timeout: float = 0.25,
        connection_wait: float = 0.0,
        breaker: CircuitBreaker | None = None,
        near_cache_size: int = 10_000,
        start_without_primary: bool = True,
    ) -> None:
        """`call_timeout`: how long the primary may take to answer before the call counts as failed. On top of it a
        call may wait `connection_wait` seconds for one of the primary's connections (its own bound): a burst of
        callers queueing in this process is no sign that the primary is down. `start_without_primary`: whether
        `open` starts on the fallback when the primary cannot be reached, or raises BackendUnavailable."""
        if call_timeout <= 0 or connection_wait < 0:
            raise ValueError("call_timeout must be positive and connection_wait 0 or more")
        self.primary = primary
        self.fallback = fallback if fallback is not None else MemoryBackend()
        self.call_timeout = call_timeout
        self._call_budget = call_timeout + connection_wait
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self.near_cache = NearCache(near_cache_size)
        self.start_without_primary = start_without_primary
        self.last_error: str | None = None
        self._counts: Counter[str] = Counter()
        self.outage = Outage(self.fallback, self.near_cache, self._counts)
        self._replay = Replay(
            primary, self.outage, self.near_cache, self._counts, timed=self._timed, clock=lambda: self._now
        )
        self._instance: str | None = None
        self._now = 0
        """The latest time a caller passed in: replays judge liveness by it."""
        self._recovery: asyncio.Task[bool] | None = None
        self._gate: asyncio.Event | None = None
        """Set while the end of a replay holds new calls back; they go on when it opens."""

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open both stores. A primary that cannot be reached raises BackendUnavailable, or with
        `start_without_primary` is no error: sessions start in the fallback, and the primary takes over once it
        answers."""
        await self.fallback.open()
        try:
            async with asyncio.timeout(max(self.call_timeout, STARTUP_TIMEOUT)):
                await self.primary.open()
                self._instance = await self.primary.instance()
        except FAILURES as exc:
            self._note_error(exc)
            if not self.start_without_primary:
                await self.primary.close()
                await self.fallback.close()
                raise BackendUnavailable(
                    f"{self.last_error} at start-up (set redis_start_in_memory to start on memory meanwhile)"
                ) from None
            self.breaker.trip()
            logger.warning(
                "%s at start-up; serving sessions from memory",
                self.last_error,
                extra={"event": "store_unavailable", "backend": self.primary.name},
            )

    async def close(self) -> None:
        """Try once more to hand what the outage wrote to the primary, then release both stores."""
        if not self.breaker.is_closed and len(self.outage.journal) and not await self.recover():
            logger.warning(
                "closing with %s still unreachable; %d journalled changes are lost",
                self.primary.name,
                len(self.outage.journal),
                extra={
                    "event": "journal_lost",
                    "backend": self.primary.name,
                    "journal_entries": len(self.outage.journal),
                },
            )
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        await self.primary.close()
        await self.fallback.close()

    async def recover(self) -> bool:
        """Probe the primary now, whatever the backoff; if it answers, replay the journal and close the breaker.

        True when the breaker is closed afterwards. The probe also runs by itself (in the background, started by
        a call once the backoff has passed); this is for shutdown, health checks and tests.
        """
        if self._recovery is not None:
            return await asyncio.shield(self._recovery)
        if self.breaker.is_closed:
            return True
        self.breaker.start_probe()
        return await self._recover()

    # -- the contract -------------------------------------------------------------------------------------------

    def cached(self, session_id: str, now: int, touch_interval: int) -> SessionRecord | None:
        """A read the primary answers from its memory while it is in charge, for a session the near cache holds (so
        an outage would keep it): the near cache only moves it up, which is safe from another thread."""
        if self._gate is not None or not self.breaker.is_closed:
            return None
        cached = self.primary.cached(session_id, now, touch_interval)
        return cached if cached is not None and self.near_cache.move_up(session_id) else None

    async def load(self, session_id: str, now: int, *, touch_interval: int = 0) -> SessionRecord | RotatedAway | None:
        # Most reads: the primary answers from its process memory, with no call that could fail or time out.
        cached = self.cached(session_id, now, touch_interval)
        if cached is not None:
            self._now = max(self._now, now)
            return cached

        async def primary() -> SessionRecord | RotatedAway | None:
            found = await self.primary.load(session_id, now, touch_interval=touch_interval)
            self.near_cache.remember(session_id, None if found is ROTATED_AWAY else found)
            return found

        async def fallback(uncertain: bool) -> SessionRecord | RotatedAway | None:
            if self.breaker.is_closed:
                return await self._read_again(primary)
            await self.outage.adopt(session_id, now)
            found = await self.fallback.load(session_id, now, touch_interval=touch_interval)
            if isinstance(found, SessionRecord):
                self.outage.read(found, now)
            return found

        return await self._serve(now, primary, fallback, write=False)

    async def create(
        self, record: SessionRecord, limit: UserLimit | None, now: int, *, audit: Audit = NO_AUDIT
    ) -> list[str]:
        async def primary() -> list[str]:
            evicted = await self.primary.create(record, limit, now, audit=audit)
            self.near_cache.put(record)
            self._forget_cached(evicted)
            return evicted

        async def fallback(uncertain: bool) -> list[str]:
            await self.outage.adopt_user(record.user_id, now)
            evicted = await self.fallback.create(record, limit, now, audit=audit)
            self.outage.created(record.id, uncertain)
            self.outage.ended(*evicted)
            self.outage.wrote(record, data_changed=True)
            return evicted

        return await self._serve(now, primary, fallback, write=True)

    async def update(self, session_id: str, changes: DataChanges, now: int) -> bool:
        async def primary() -> bool:
            written = await self.primary.update(session_id, changes, now)
            if written:
                self.near_cache.apply(session_id, changes, now)
            else:
                self.near_cache.discard(session_id)
            return written

        async def fallback(uncertain: bool) -> bool:
            await self.outage.adopt(session_id, now)
            if not await self.fallback.update(session_id, changes, now):
                return False
            # The whole record, as the write left it, to journal.
            record = await self.fallback.peek(session_id, now)
            if record is not None:
                self.outage.wrote(record, data_changed=True)
            return True

        return await self._serve(now, primary, fallback, write=True)

    async def rotate(
        self, session_id: str, new_session_id: str, now: int, *, audit: Audit = NO_AUDIT
    ) -> SessionRecord | None:
        async def primary() -> SessionRecord | None:
            record = await self.primary.rotate(session_id, new_session_id, now, audit=audit)
            self.near_cache.discard(session_id)
            if record is not None:
                self.near_cache.put(record)
            return record

        async def fallback(uncertain: bool) -> SessionRecord | None:
            await self.outage.adopt(session_id, now)
            record = await self.fallback.rotate(session_id, new_session_id, now, audit=audit)
            if record is None:
                return None
            self.outage.rotated(session_id, record, uncertain)
            return record

        return await self._serve(now, primary, fallback, write=True)

    async def login(
        self,
        previous_id: str | None,
        record: SessionRecord,
        limit: UserLimit | None,
        now: int,
        *,
        changes: DataChanges | None = None,
        audit: Audit = NO_AUDIT,
    ) -> tuple[SessionRecord, list[str]]:
        async def primary() -> tuple[SessionRecord, list[str]]:
            stored, evicted = await self.primary.login(previous_id, record, limit, now, changes=changes, audit=audit)
            self._forget_cached([previous_id] if previous_id is not None else [])
            self._forget_cached(evicted)
            self.near_cache.put(stored)
            return stored, evicted

        async def fallback(uncertain: bool) -> tuple[SessionRecord, list[str]]:
            await self.outage.adopt(previous_id, now)
            await self.outage.adopt_user(record.user_id, now)
            previous = await self.fallback.peek(previous_id, now) if previous_id is not None else None
            stored, evicted = await self.fallback.login(previous_id, record, limit, now, changes=changes, audit=audit)
            if (
                previous is not None
                and stored.user_id is not None
                and carries_over(previous.user_id, stored.user_id)
                and bucket_of(previous.id) == bucket_of(stored.id)
            ):
                # The session carried on under a new id, as in a rotation: its replay moves the conversation the
                # primary holds for the old id (`restore(replaces=...)`), which must follow in one step.
                self.outage.rotated(previous.id, stored, uncertain)
            else:
                if previous_id in self.outage.outbox:
                    carried = await self.fallback.load_conversation(stored.id, now, 0)
                    if carried is not None and carried.count:  # the data, and so the conversation, carried over
                        self.outage.move_outbox(previous_id, stored.id)
                self.outage.created(stored.id, uncertain)
                if previous_id is not None:
                    self.outage.ended(previous_id)
            self.outage.ended(*evicted)
            self.outage.wrote(stored, data_changed=True)
            return stored, evicted

        return await self._serve(now, primary, fallback, write=True)

    async def delete(self, session_id: str, now: int, *, audit: Audit = NO_AUDIT) -> bool:
        async def primary() -> bool:
            deleted = await self.primary.delete(session_id, now, audit=audit)
            self.near_cache.discard(session_id)
            return deleted

        async def fallback(uncertain: bool) -> bool:
            await self.outage.adopt(session_id, now)
            deleted = await self.fallback.delete(session_id, now, audit=audit)
            self.outage.ended(session_id)
            return deleted

        return await self._serve(now, primary, fallback, write=True)

    async def list_user(self, user_id: str, now: int) -> list[SessionRecord]:
        async def primary() -> list[SessionRecord]:
            return await self.primary.list_user(user_id, now)

        async def fallback(uncertain: bool) -> list[SessionRecord]:
            if self.breaker.is_closed:
                cached = (self.near_cache.get(session_id) for session_id in self.near_cache.user_ids(user_id))
                return [record for record in cached if record is not None and record.is_live(now)]
            await self.outage.adopt_user(user_id, now)
            return await self.fallback.list_user(user_id, now)

        return await self._serve(now, primary, fallback, write=False)

    async def delete_user(
        self, user_id: str, now: int, *, except_id: str | None = None, audit: Audit = NO_AUDIT
    ) -> list[str]:
        async def primary() -> list[str]:
            removed = await self.primary.delete_user(user_id, now, except_id=except_id, audit=audit)
            self._forget_cached([i for i in self.near_cache.user_ids(user_id) if i != except_id])
            return removed

        async def fallback(uncertain: bool) -> list[str]:
            await self.outage.adopt_user(user_id, now)
            removed = await self.fallback.delete_user(user_id, now, except_id=except_id, audit=audit)
            self.outage.ended(*removed)
            # The primary may hold sessions of the user this process never saw: they end too.
            self.outage.user_signed_out(user_id, now)
            return removed

        return await self._serve(now, primary, fallback, write=True)

    # -- security monitoring: what happens during an outage stays in the fallback (docs/outages.md) --------------

    async def report_reuse(self, session_id: str, now: int, *, grace: int, revoke: bool, audit: Audit) -> str | None:
        async def primary() -> str | None:
            rotated_into = await self.primary.report_reuse(session_id, now, grace=grace, revoke=revoke, audit=audit)
            if rotated_into is not None and revoke:
                self.near_cache.discard(rotated_into)
            return rotated_into

        async def fallback(uncertain: bool) -> str | None:
            rotated_into = await self.fallback.report_reuse(session_id, now, grace=grace, revoke=revoke, audit=audit)
            if rotated_into is not None and revoke:
                self.outage.ended(rotated_into)
            return rotated_into

        return await self._serve(now, primary, fallback, write=revoke)

    async def flag_risk(self, session_id: str, signature: str, risk: str, now: int, *, audit: Audit) -> bool:
        async def primary() -> bool:
            return await self.primary.flag_risk(session_id, signature, risk, now, audit=audit)

        async def fallback(uncertain: bool) -> bool:
            await self.outage.adopt(session_id, now)
            return await self.fallback.flag_risk(session_id, signature, risk, now, audit=audit)

        return await self._serve(now, primary, fallback, write=True)

    async def security_events(self, user_id: str, *, since: int, limit: int) -> list[SecurityEvent]:
        """The primary's log. While it is out this raises BackendUnavailable rather than answer with a part of the
        log: events recorded meanwhile stay in the fallback and are not written back (docs/outages.md)."""
        call = functools.partial(self.primary.security_events, user_id, since=since, limit=limit)
        return await self._primary_only(self._now, call, "the security log", write=False)

    async def browse(self, now: int, *, after: str | None, limit: int) -> list[SessionRecord]:
        """The primary's sessions; while it is out BackendUnavailable, rather than the part this process knows."""
        call = functools.partial(self.primary.browse, now, after=after, limit=limit)
        return await self._primary_only(now, call, "the list of every session", write=False)

    async def count_unknown_token(self, address: str, *, window: int) -> tuple[int, int]:
        """The primary's shared count; while it is out (or when it keeps none) BackendUnavailable, and the manager
        counts in this process instead."""
        primary = self.primary
        if not isinstance(primary, SharedAbuseCounter):
            raise BackendUnavailable(f"{primary.name} keeps no shared unknown-token counts")
        call = functools.partial(primary.count_unknown_token, address, window=window)
        return await self._primary_only(self._now, call, "the shared unknown-token count", write=False)

    async def append_message(
        self, session_id: str, message: bytes, cap: int, now: int, *, replay: bool = False
    ) -> int | None:
        """During an outage the count is of the messages added since it began (the fallback holds no earlier ones);
        they are appended to the primary's conversation on recovery."""

        async def primary() -> int | None:
            length = await self.primary.append_message(session_id, message, cap, now, replay=replay)
            if length is None:
                self.near_cache.discard(session_id)
            else:
                self.near_cache.apply(session_id, DataChanges(), now)
            return length

        async def fallback(uncertain: bool) -> int | None:
            await self.outage.adopt(session_id, now)
            length = await self.fallback.append_message(session_id, message, cap, now, replay=replay)
            if length is None:
                return None
            self.outage.queue_message(session_id, message, cap)
            record = await self.fallback.peek(session_id, now)  # the whole record, as the append left it
            if record is not None:
                self.outage.wrote(record, data_changed=False)
            return length

        return await self._serve(now, primary, fallback, write=True)

    async def load_conversation(
        self, session_id: str, now: int, last: int | None, *, touch_interval: int = 0
    ) -> ConversationRecord | None:
        """During an outage, the messages added since it began."""

        async def primary() -> ConversationRecord | None:
            conversation = await self.primary.load_conversation(session_id, now, last, touch_interval=touch_interval)
            self.near_cache.remember(session_id, conversation.record if conversation is not None else None)
            return conversation

        async def fallback(uncertain: bool) -> ConversationRecord | None:
            if self.breaker.is_closed:
                return await self._read_again(primary)
            await self.outage.adopt(session_id, now)
            conversation = await self.fallback.load_conversation(session_id, now, last, touch_interval=touch_interval)
            if conversation is not None:
                self.outage.read(conversation.record, now)
            return conversation

        return await self._serve(now, primary, fallback, write=False)

    async def count(self, now: int) -> int:
        """Exact while the primary serves; during an outage, the live sessions this process knows of."""

        async def primary() -> int:
            return await self.primary.count(now)

        async def fallback(uncertain: bool) -> int:
            if self.breaker.is_closed:
                return sum(1 for record in self.near_cache.records() if record.is_live(now))
            return await self.fallback.count(now)

        return await self._serve(now, primary, fallback, write=False)

    async def health(self) -> dict[str, Any]:
        self._poll()
        closed = self.breaker.is_closed
        primary = await self._primary_health() if closed else {"status": "down", "backend": self.primary.name}
        return {
            "status": "ok" if closed and primary["status"] == "ok" else "degraded",
            "backend": self.name,
            "primary": primary,
            "fallback_active": not closed,
            "breaker": self.breaker.state.value,
            "seconds_in_fallback": round(self.breaker.seconds_open(), 3),
            "journal_length": len(self.outage.journal),
            "near_cache_size": len(self.near_cache),
            "last_error": self.last_error,
        }

    async def instance(self) -> str:
        return await self.primary.instance()

    async def restore(
        self, record: SessionRecord, now: int, *, data_changed: bool, replaces: str | None, if_replaced_exists: bool
    ) -> bool:
        async def primary() -> bool:
            return await self.primary.restore(
                record, now, data_changed=data_changed, replaces=replaces, if_replaced_exists=if_replaced_exists
            )

        async def fallback(uncertain: bool) -> bool:
            # Restoring into a store that is down: keep it for the replay like any other write.
            await self.outage.adopt(replaces, now)
            restored = await self.fallback.restore(
                record, now, data_changed=data_changed, replaces=replaces, if_replaced_exists=if_replaced_exists
            )
            if restored:
                self.outage.created(record.id, uncertain=True)
                self.outage.wrote(record, data_changed=data_changed)
            return restored

        return await self._serve(now, primary, fallback, write=True)

    # -- admin reads and legacy sessions ------------------------------------------------------------------------

    async def peek(self, session_id: str, now: int) -> SessionRecord | None:
        async def primary() -> SessionRecord | None:
            return await self.primary.peek(session_id, now)

        async def fallback(uncertain: bool) -> SessionRecord | None:
            if session_id in self.outage.held:
                return await self.fallback.peek(session_id, now)
            return self.near_cache.live(session_id, now)

        return await self._serve(now, primary, fallback, write=False)

    async def import_sessions(self, imports: Sequence[ImportedSession], now: int) -> list[ImportOutcome]:
        return await self._primary_only(now, lambda: self.primary.import_sessions(imports, now), LEGACY, write=True)

    async def import_markers(self, session_ids: Sequence[str], now: int) -> list[ImportMarker | None]:
        return await self._primary_only(now, lambda: self.primary.import_markers(session_ids, now), LEGACY, write=False)

    async def resolve_alias(self, alias_id: str, now: int) -> str | None:
        return await self._primary_only(now, lambda: self.primary.resolve_alias(alias_id, now), LEGACY, write=False)

    async def adopt(self, alias_id: str, session_id: str, new_session_id: str, now: int) -> SessionRecord | None:
        async def primary() -> SessionRecord | None:
            record = await self.primary.adopt(alias_id, session_id, new_session_id, now)
            if record is not None:
                self.near_cache.put(record)
            return record

        return await self._primary_only(now, primary, LEGACY, write=True)

    async def _primary_only(self, now: int, call: Callable[[], Awaitable[T]], what: str, *, write: bool) -> T:
        """A call only the primary can serve: while it is out, BackendUnavailable."""

        async def unavailable(uncertain: bool) -> T:
            raise BackendUnavailable(f"{self.primary.name} is unavailable, and {what} lives only there")

        return await self._serve(now, call, unavailable, write=write)

    def stats(self) -> dict[str, Any]:
        return {
            "breaker": self.breaker.state.value,
            "breaker_trips": self.breaker.trips,
            "probes": self.breaker.probes,
            "failed_calls": self._counts["failed_calls"],
            "served_by_fallback": self._counts["served_by_fallback"],
            "adopted_from_near_cache": self._counts["adopted_from_near_cache"],
            "journal_length": len(self.outage.journal),
            "journal_replayed": self._counts["journal_replayed"],
            "sessions_written_back": self._counts["sessions_written_back"],
            "journal_quarantined": self._counts["journal_quarantined"],
            **self.primary.stats(),
        }

    # -- serving ------------------------------------------------------------------------------------------------

    async def _serve(
        self,
        now: int,
        primary: Callable[[], Awaitable[T]],
        fallback: Callable[[bool], Awaitable[T]],
        *,
        write: bool,
    ) -> T:
        """One call: on the primary under the timeout while the breaker is closed, else (or if it fails) on the
        fallback. A diverted write opens the breaker at once: from then on the fallback holds state the primary
        lacks, and only a replay may hand the primary back its calls. The fallback is told whether the primary was
        tried: a call that timed out may have been carried out all the same."""
        self._now = max(self._now, now)
        if self._gate is not None:
            await self._gate.wait()
        tried = self._poll()
        if tried:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self._call_budget):
                    result = await primary()
            except FAILURES as exc:
                self._note_error(exc)
                _FAILED_AT_ONCE.set(time.monotonic() - started < self.call_timeout / 2)
                self._counts["failed_calls"] += 1
                opened = self.breaker.record_failure()
                if write and self.breaker.is_closed:
                    self.breaker.trip()
                    opened = True
                if opened:
                    logger.warning(
                        "%s; serving sessions from memory",
                        self.last_error,
                        extra={"event": "store_unavailable", "backend": self.primary.name},
                    )
            else:
                self.breaker.record_success()
                return result
        result = await fallback(tried)
        self._counts["served_by_fallback"] += 1
        return result

    def _poll(self) -> bool:
        """True when calls may go to the primary; otherwise start the background probe if it is due."""
        if self.breaker.is_closed:
            return True
        if self.breaker.probe_due() and self._recovery is None:
            self.breaker.start_probe()
            self._recovery = asyncio.get_running_loop().create_task(self._recover(), name="sessionhub-recovery")
        return False

    async def _read_again(self, primary: Callable[[], Awaitable[T]]) -> T:
        """A session read failed while the breaker is still closed. Redis is likely reachable (by the other processes
        at least), and the near cache never hears of sessions they end, so it must not answer (it serves only once
        the breaker is open: docs/outages.md states the bound). A call that failed at once (a broken connection) is
        tried once more; one that timed out has spent the caller's time already. Otherwise, or if that fails too,
        BackendUnavailable."""
        if _FAILED_AT_ONCE.get():
            try:
                async with asyncio.timeout(self._call_budget):
                    result = await primary()
            except FAILURES as exc:
                self._note_error(exc)
            else:
                self.breaker.record_success()
                return result
        raise BackendUnavailable(f"{self.last_error}; the session cannot be confirmed, retry shortly")

    def _forget_cached(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            self.near_cache.discard(session_id)

    def _note_error(self, exc: BaseException) -> None:
        # BackendUnavailable messages name no token or value; other failures are described by their type only.
        if isinstance(exc, BackendUnavailable):
            self.last_error = str(exc)
        elif isinstance(exc, TimeoutError):
            self.last_error = f"{self.primary.name} did not answer within {self.call_timeout * 1000:g} ms"
        else:
            self.last_error = f"{self.primary.name} failed: {type(exc).__name__}"

    async def _primary_health(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._call_budget):
                return await self.primary.health()
        except TimeoutError:
            return {"status": "down", "backend": self.primary.name, "error": "TimeoutError"}

    # -- recovery -----------------------------------------------------------------------------------------------

    async def _recover(self) -> bool:
        """The half-open step: probe, write back, replay; close only when the journal is empty."""
        started = self.breaker.seconds_open()
        written_before = self._counts["sessions_written_back"]
        try:
            try:
                instance = await self._timed(self.primary.instance())
                lost = instance != self._instance and await self._timed(self.primary.count(self._now)) == 0
                if lost:
                    await self._replay.write_back()
                replayed = await self._replay.run(lost, self._hold_calls)
            except FAILURES as exc:
                self._note_error(exc)
                self.breaker.probe_failed()
                logger.info(
                    "still unavailable (%s); next probe in %g s",
                    self.last_error,
                    self.breaker.backoff,
                    extra={
                        "event": "store_still_unavailable",
                        "backend": self.primary.name,
                        "seconds": self.breaker.backoff,
                    },
                )
                return False
            except Exception:
                # A bug must not leave the breaker half open (and the primary unused) for good: probe again later.
                self.breaker.probe_failed()
                logger.exception(
                    "recovery failed; next probe in %g s",
                    self.breaker.backoff,
                    extra={"event": "recovery_failed", "backend": self.primary.name, "seconds": self.breaker.backoff},
                )
                return False
            # No await from the last replayed entry to here: nothing can slip into the journal in between.
            self._instance = instance
            held = self.outage.over()
            self.breaker.close()
        finally:
            self._recovery = None
            if self._gate is not None:
                self._gate.set()
                self._gate = None
        logger.warning(
            "%s is back after %.1f s; replayed %d journal entries%s",
            self.primary.name,
            started,
            replayed,
            f"; it had lost its sessions: {self._counts['sessions_written_back'] - written_before} written back"
            if lost
            else "",
            extra={
                "event": "store_recovered",
                "backend": self.primary.name,
                "seconds": round(started, 3),
                "journal_entries": replayed,
            },
        )
        for session_id in held:
            await self.fallback.delete(session_id, self._now)
        return True

    def _hold_calls(self) -> None:
        self._gate = asyncio.Event()  # opened by `_recover` once the breaker is closed (or the replay failed)

    async def _timed(self, call: Awaitable[T]) -> T:
        async with asyncio.timeout(self._call_budget):
            return await call
