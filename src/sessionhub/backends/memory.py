"""Sessions in this process's memory: for development, tests and (through ResilientBackend) Redis outages.

Every operation runs under one lock with no await inside, so each is atomic even when the application calls it
from several threads or event loops. Records are copied in and out: nothing a caller holds aliases the store.

Expired sessions are dropped lazily when read and by a bounded sweep on every write, driven by a heap of idle
deadlines in which each session has exactly one entry (re-pushed with its current deadline when it turns out to
have moved), so memory stays bounded by the sessions alive within one timeout.

Security logs are bounded deques per user, dropped (oldest first) once their time to live has passed; rotation
markers are a dict capped at MAX_ROTATION_MARKERS entries, oldest dropped first.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sessionhub import events
from sessionhub.backends.base import (
    ADOPTED,
    MAX_ROTATION_HOPS,
    NO_AUDIT,
    ROTATED_AWAY,
    Audit,
    ImportedSession,
    ImportMarker,
    ImportOutcome,
    ImportStatus,
    RotatedAway,
    SessionBackend,
    UserLimit,
    import_outcome,
)
from sessionhub.errors import SessionLimitExceeded
from sessionhub.events import SecurityEvent
from sessionhub.model import (
    ConversationRecord,
    DataChanges,
    SessionRecord,
    carries_over,
    check_storable,
    eviction_order,
    utc,
)

SWEEP_BATCH = 64
"""Most deadlines examined by the sweep that runs on each write, bounding its cost."""

MAX_ROTATION_MARKERS = 100_000
"""Most rotated-away ids remembered for token-reuse detection; the oldest are forgotten first."""


@dataclass(slots=True)
class _Log:
    events: deque[SecurityEvent]
    expires_at: int


@dataclass(slots=True)
class _ImportMarker:
    state: str
    """The alias id until the browser adopts the session, then ADOPTED."""
    source_digest: str
    expiry: int


@dataclass(frozen=True, slots=True)
class _Rotation:
    new_id: str
    rotated_at: int
    expires_at: int


class MemoryBackend(SessionBackend):
    name = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionRecord] = {}
        self._user_sessions: dict[str, set[str]] = {}
        self._deadlines: list[tuple[int, str]] = []
        self._logs: OrderedDict[str, _Log] = OrderedDict()
        self._rotations: OrderedDict[str, _Rotation] = OrderedDict()
        self._rotation_deadlines: list[tuple[int, str]] = []
        """(expiry, old id) of each rotation marker, for the sweep to drop the expired ones."""
        self._messages: dict[str, list[bytes]] = {}
        # Legacy imports: session id -> its marker, and alias id -> (session id, expiry).
        self._import_markers: dict[str, _ImportMarker] = {}
        self._aliases: dict[str, tuple[str, int]] = {}
        self._instance = uuid.uuid4().hex

    # -- the contract -------------------------------------------------------------------------------------------

    async def load(self, session_id: str, now: int, *, touch_interval: int = 0) -> SessionRecord | RotatedAway | None:
        with self._lock:
            record = self._live(session_id, now)
            if record is None:
                return ROTATED_AWAY if self._rotation(session_id, now) is not None else None
            if record.touch_due(now, touch_interval):
                record.touched(now)
            return record.copy()

    async def create(
        self, record: SessionRecord, limit: UserLimit | None, now: int, *, audit: Audit = NO_AUDIT
    ) -> list[str]:
        check_storable(record.user_id, record.data)
        with self._lock:
            self._sweep(now, SWEEP_BATCH)
            evicted = self._make_room(record, limit, now, audit)
            self._insert(record.copy())
            self._log(record.user_id, now, audit, events.CREATED, record.id)
            return evicted

    async def update(self, session_id: str, changes: DataChanges, now: int) -> bool:
        check_storable(None, changes.updated)
        with self._lock:
            self._sweep(now, SWEEP_BATCH)
            record = self._live(session_id, now)
            if record is None:
                return False
            record.data.update(changes.updated)
            for key in changes.removed:
                record.data.pop(key, None)
            record.touched(now)
            return True

    async def rotate(
        self, session_id: str, new_session_id: str, now: int, *, audit: Audit = NO_AUDIT
    ) -> SessionRecord | None:
        with self._lock:
            self._sweep(now, SWEEP_BATCH)
            moved = self._move(session_id, new_session_id, now)
            if moved is None:
                return None
            self._remember_rotation(session_id, _Rotation(new_session_id, now, moved.absolute_expires_at))
            self._log(moved.user_id, now, audit, events.ROTATED, new_session_id, related=session_id)
            return moved

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
        check_storable(record.user_id, itertools.chain(record.data, changes.updated if changes else ()))
        with self._lock:
            self._sweep(now, SWEEP_BATCH)
            previous = self._live(previous_id, now) if previous_id else None
            assert record.user_id is not None
            carried = previous is not None and carries_over(previous.user_id, record.user_id)
            new = replace(record, data=dict(previous.data), kind=previous.kind) if carried and previous else record
            if changes and (carried or previous_id is None):
                new = replace(new, data={**new.data, **changes.updated})
                for key in changes.removed:
                    new.data.pop(key, None)
            # The previous session goes whatever happens next, except when the limit refuses the login.
            evicted = self._make_room(record, limit, now, audit, replacing=previous_id)
            messages = self._messages.get(previous_id) if carried and previous_id else None
            if previous_id:
                self._remove(previous_id)
            self._insert(new.copy())
            if messages is not None:
                self._messages[new.id] = messages
            replaced = previous.id if previous is not None else None
            self._log(record.user_id, now, audit, events.LOGIN, record.id, related=replaced)
            return new.copy(), evicted

    async def delete(self, session_id: str, now: int, *, audit: Audit = NO_AUDIT) -> bool:
        with self._lock:
            record = self._live(session_id, now)
            self._remove(session_id)
            if record is None:
                return False
            self._log(record.user_id, now, audit, events.REVOKED, session_id)
            return True

    async def list_user(self, user_id: str, now: int) -> list[SessionRecord]:
        check_storable(user_id)
        with self._lock:
            return [record.copy() for record in self._live_user_sessions(user_id, now)]

    async def delete_user(
        self, user_id: str, now: int, *, except_id: str | None = None, audit: Audit = NO_AUDIT
    ) -> list[str]:
        check_storable(user_id)
        with self._lock:
            removed = [r.id for r in self._live_user_sessions(user_id, now) if r.id != except_id]
            for session_id in removed:
                self._remove(session_id)
                self._log(user_id, now, audit, events.REVOKED, session_id)
            return removed

    async def report_reuse(self, session_id: str, now: int, *, grace: int, revoke: bool, audit: Audit) -> str | None:
        with self._lock:
            rotation = self._rotation(session_id, now)
            if rotation is None or now - rotation.rotated_at <= grace:
                return None
            current = rotation.new_id
            for _ in range(MAX_ROTATION_HOPS - 1):
                onward = self._rotation(current, now)
                if onward is None:
                    break
                current = onward.new_id
            record = self._live(current, now)
            if record is None:
                return current
            self._log(record.user_id, now, audit, events.TOKEN_REUSED, current, related=session_id)
            if revoke:
                self._remove(current)
                self._log(record.user_id, now, audit, events.REVOKED, current)
            return current

    async def flag_risk(self, session_id: str, signature: str, risk: str, now: int, *, audit: Audit) -> bool:
        with self._lock:
            record = self._live(session_id, now)
            if record is None or record.flagged_client == signature:
                return False
            record.flagged_client = signature
            self._log(record.user_id, now, audit, events.RISK_FLAGGED, session_id, risk=risk)
            return True

    async def security_events(self, user_id: str, *, since: int, limit: int) -> list[SecurityEvent]:
        with self._lock:
            log = self._logs.get(user_id)
            if log is None:
                return []
            cutoff = utc(since)
            newest_first = (event for event in reversed(log.events) if event.at >= cutoff)
            return [event for _, event in zip(range(limit), newest_first, strict=False)]

    async def append_message(
        self, session_id: str, message: bytes, cap: int, now: int, *, replay: bool = False
    ) -> int | None:
        with self._lock:
            self._sweep(now, SWEEP_BATCH)
            record = self._live(session_id, now)
            if record is None:
                return None
            messages = self._messages.setdefault(session_id, [])
            if not (replay and message in messages):
                messages.append(message)
                del messages[:-cap]
            if not replay:
                record.touched(now)
            return len(messages)

    async def load_conversation(
        self, session_id: str, now: int, last: int | None, *, touch_interval: int = 0
    ) -> ConversationRecord | None:
        with self._lock:
            record = self._live(session_id, now)
            if record is None:
                return None
            if record.touch_due(now, touch_interval):
                record.touched(now)
            messages = self._messages.get(session_id, [])
            first = 0 if last is None else max(len(messages) - last, 0)
            return ConversationRecord(record.copy(), messages[first:], len(messages))

    async def count(self, now: int) -> int:
        with self._lock:
            self._sweep(now, None)
            for marker_id in [key for key, marker in self._import_markers.items() if marker.expiry <= now]:
                del self._import_markers[marker_id]
            for alias_id in [key for key, (_, expiry) in self._aliases.items() if expiry <= now]:
                del self._aliases[alias_id]
            return len(self._sessions)

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "backend": self.name}

    async def instance(self) -> str:
        return self._instance

    async def restore(
        self, record: SessionRecord, now: int, *, data_changed: bool, replaces: str | None, if_replaced_exists: bool
    ) -> bool:
        check_storable(record.user_id, record.data)
        with self._lock:
            if not record.is_live(now):
                return False
            # Not `_live`: a copy whose deadline passed here was not ended; the outage kept it alive elsewhere.
            existing = self._sessions.get(record.id)
            if existing is not None:
                theirs = existing.last_active_at
                if theirs > record.last_active_at or (theirs == record.last_active_at and not data_changed):
                    return False
                if data_changed:
                    existing.kind, existing.client, existing.data = record.kind, record.client, dict(record.data)
                # Never earlier: the session's heap entry must not be later than its deadline, or the sweep misses it.
                existing.last_active_at = record.last_active_at
                existing.expires_at = max(existing.expires_at, min(record.expires_at, existing.absolute_expires_at))
            elif if_replaced_exists and (replaces is None or replaces not in self._sessions):
                return False
            else:
                self._insert(record.copy())
            if replaces is not None and replaces != record.id:
                messages = self._messages.get(replaces)
                self._remove(replaces)
                if messages is not None:  # an earlier id of the same session: its conversation moves with it
                    self._messages.setdefault(record.id, messages)
            return True

    # -- admin reads and legacy sessions ------------------------------------------------------------------------

    async def peek(self, session_id: str, now: int) -> SessionRecord | None:
        with self._lock:
            record = self._live(session_id, now)
            return record.copy() if record is not None else None

    async def browse(self, now: int, *, after: str | None, limit: int) -> list[SessionRecord]:
        with self._lock:
            ids = sorted(session_id for session_id in self._sessions if after is None or session_id > after)
            live = (self._live(session_id, now) for session_id in ids)
            return [record.copy() for record in itertools.islice(filter(None, live), limit)]

    async def import_sessions(self, imports: Sequence[ImportedSession], now: int) -> list[ImportOutcome]:
        for item in imports:
            check_storable(item.record.user_id, item.record.data)
        with self._lock:
            self._sweep(now, SWEEP_BATCH)
            return [self._import(item, now) for item in imports]

    async def import_markers(self, session_ids: Sequence[str], now: int) -> list[ImportMarker | None]:
        with self._lock:
            return [self._import_marker(session_id, now) for session_id in session_ids]

    async def resolve_alias(self, alias_id: str, now: int) -> str | None:
        with self._lock:
            return _unexpired(self._aliases.get(alias_id), now)

    async def adopt(self, alias_id: str, session_id: str, new_session_id: str, now: int) -> SessionRecord | None:
        with self._lock:
            self._aliases.pop(alias_id, None)
            marker = self._import_markers.get(session_id)
            if marker is None or now >= marker.expiry or marker.state != alias_id:
                return None
            moved = self._move(session_id, new_session_id, now)
            if moved is not None:
                marker.state = ADOPTED
            return moved

    # -- internals: callers hold the lock -----------------------------------------------------------------------

    def _move(self, session_id: str, new_session_id: str, now: int) -> SessionRecord | None:
        record = self._live(session_id, now)
        if record is None:
            return None
        messages = self._messages.get(session_id)
        self._remove(session_id)
        moved = replace(record, id=new_session_id)
        moved.touched(now)
        self._insert(moved)
        if messages is not None:
            self._messages[new_session_id] = messages
        return moved.copy()

    def _import(self, item: ImportedSession, now: int) -> ImportOutcome:
        record = item.record
        outcome = import_outcome(self._import_marker(record.id, now), item.source_digest)
        marker = self._import_markers.get(record.id)
        if outcome == "unchanged":
            waiting = self._live(record.id, now) if marker is not None and marker.state != ADOPTED else None
            if marker is not None and waiting is not None:
                if record.expires_at > waiting.expires_at:
                    waiting.expires_at = record.expires_at
                    waiting.absolute_expires_at = max(record.absolute_expires_at, waiting.absolute_expires_at)
                    marker.expiry = max(marker.expiry, waiting.absolute_expires_at)
                self._aliases[item.alias_id] = (record.id, waiting.expires_at)
        if outcome not in ("new", "updated"):
            return outcome
        self._remove(record.id)
        self._insert(record.copy())
        if item.messages:
            self._messages[record.id] = list(item.messages)
        expiry = max(record.absolute_expires_at, marker.expiry if marker is not None else 0)
        self._import_markers[record.id] = _ImportMarker(item.alias_id, item.source_digest, expiry)
        self._aliases[item.alias_id] = (record.id, record.expires_at)
        return outcome

    def _import_marker(self, session_id: str, now: int) -> ImportMarker | None:
        marker = self._import_markers.get(session_id)
        if marker is None or now >= marker.expiry:
            return None
        if marker.state == ADOPTED:
            return ImportMarker("adopted", marker.source_digest)
        status: ImportStatus = "pending" if self._live(session_id, now) is not None else "ended"
        return ImportMarker(status, marker.source_digest)

    def _live(self, session_id: str | None, now: int) -> SessionRecord | None:
        record = self._sessions.get(session_id) if session_id else None
        if record is not None and not record.is_live(now):
            self._remove(record.id)
            return None
        return record

    def _insert(self, record: SessionRecord) -> None:
        self._sessions[record.id] = record
        if record.user_id is not None:
            self._user_sessions.setdefault(record.user_id, set()).add(record.id)
        heapq.heappush(self._deadlines, (record.expires_at, record.id))

    def _remove(self, session_id: str) -> None:
        self._messages.pop(session_id, None)
        record = self._sessions.pop(session_id, None)
        if record is None or record.user_id is None:
            return
        ids = self._user_sessions.get(record.user_id)
        if ids is not None:
            ids.discard(session_id)
            if not ids:
                del self._user_sessions[record.user_id]

    def _live_user_sessions(self, user_id: str, now: int) -> list[SessionRecord]:
        records = [self._live(session_id, now) for session_id in list(self._user_sessions.get(user_id, ()))]
        return [record for record in records if record is not None]

    def _make_room(
        self,
        newcomer: SessionRecord,
        limit: UserLimit | None,
        now: int,
        audit: Audit,
        *,
        replacing: str | None = None,
    ) -> list[str]:
        user_id = newcomer.user_id
        if user_id is None or limit is None:
            return []
        others = [r for r in self._live_user_sessions(user_id, now) if r.id != replacing]
        excess = len(others) - limit.max_sessions + 1
        if excess <= 0:
            return []
        policy = "evict_oldest" if limit.evict_oldest else "reject"
        self._log(user_id, now, audit, events.LIMIT_REACHED, newcomer.id, reason=policy, actor=events.SYSTEM)
        if not limit.evict_oldest:
            raise SessionLimitExceeded(f"user already has {len(others)} sessions (limit {limit.max_sessions})")
        evicted = [record.id for record in eviction_order(others)[:excess]]
        for session_id in evicted:
            self._remove(session_id)
            self._log(
                user_id,
                now,
                audit,
                events.EVICTED,
                session_id,
                related=newcomer.id,
                reason="limit",
                actor=events.SYSTEM,
            )
        return evicted

    def _log(
        self,
        user_id: str | None,
        now: int,
        audit: Audit,
        kind: str,
        session_id: str,
        *,
        related: str | None = None,
        reason: str | None = None,
        risk: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Append to the user's log; also drop the logs whose time to live has passed (least recent first)."""
        while self._logs and next(iter(self._logs.values())).expires_at <= now:
            self._logs.popitem(last=False)
        if user_id is None or audit.max_events <= 0:
            return
        log = self._logs.pop(user_id, None)
        if log is None or log.events.maxlen != audit.max_events:
            log = _Log(deque(log.events if log else (), maxlen=audit.max_events), 0)
        log.events.append(
            SecurityEvent(
                type=kind,
                at=utc(now),
                session_id=session_id,
                related_session_id=related,
                reason=reason if reason is not None else audit.reason or None,
                actor=actor or audit.actor,
                ip=audit.ip,
                device=audit.device,
                risk=risk,
            )
        )
        log.expires_at = now + audit.ttl
        self._logs[user_id] = log

    def _remember_rotation(self, session_id: str, rotation: _Rotation) -> None:
        self._rotations[session_id] = rotation
        heapq.heappush(self._rotation_deadlines, (rotation.expires_at, session_id))
        while len(self._rotations) > MAX_ROTATION_MARKERS:
            self._rotations.popitem(last=False)
        if len(self._rotation_deadlines) > 2 * MAX_ROTATION_MARKERS:  # entries of markers the cap dropped
            self._rotation_deadlines = [(marker.expires_at, old_id) for old_id, marker in self._rotations.items()]
            heapq.heapify(self._rotation_deadlines)

    def _rotation(self, session_id: str, now: int) -> _Rotation | None:
        rotation = self._rotations.get(session_id)
        if rotation is not None and rotation.expires_at <= now:
            del self._rotations[session_id]
            return None
        return rotation

    def _sweep(self, now: int, budget: int | None) -> None:
        """Drop sessions and rotation markers whose deadline passed, examining at most `budget` heap entries of each
        (all when None), so that memory stays bounded under churn."""
        markers, rotations = self._rotation_deadlines, self._rotations
        examined = 0
        while markers and markers[0][0] <= now and (budget is None or examined < budget):
            examined += 1
            _, old_id = heapq.heappop(markers)
            rotation = rotations.get(old_id)
            if rotation is not None and rotation.expires_at <= now:
                del rotations[old_id]
        deadlines = self._deadlines
        examined = 0
        while deadlines and deadlines[0][0] <= now and (budget is None or examined < budget):
            examined += 1
            _, session_id = heapq.heappop(deadlines)
            record = self._sessions.get(session_id)
            if record is None:
                continue
            if record.is_live(now):
                heapq.heappush(deadlines, (record.expires_at, session_id))
            else:
                self._remove(session_id)


def _unexpired(entry: tuple[str, int] | None, now: int) -> str | None:
    return entry[0] if entry is not None and now < entry[1] else None
