"""The contract every session store fulfils: `SessionStore`, eleven atomic session operations, and beside it the
capabilities a store may have (`SecurityLog`, `SharedAbuseCounter`, `ConversationStore`, `LegacyStore`,
`Restorable`).

A backend stores `SessionRecord`s keyed by session id and keeps a per-user index. The manager does everything that
does not need the store (tokens, validation, encoding, timeouts) and calls one method per operation; each method is
one atomic step in the store, so a concurrent request sees the state before it or after it, never half of it, and a
method that fails leaves the store as it was.

Time is passed in (`now`, integer milliseconds) rather than read by the backend: every backend then judges expiry by
the same clock, and tests can move that clock.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, Self

from sessionhub.events import SecurityEvent
from sessionhub.model import ConversationRecord, DataChanges, SessionRecord


@dataclass(frozen=True, slots=True)
class UserLimit:
    """How many live sessions one user may hold, and what happens to the next one."""

    max_sessions: int
    evict_oldest: bool
    """True: sign out the least recently active sessions to make room. False: refuse with SessionLimitExceeded."""


@dataclass(frozen=True, slots=True)
class ImportedSession:
    """A legacy session ready to store: its record (id from `migrated_session_id`), the alias that reaches it, and
    the digest of the source record it came from (what tells a re-import whether the source changed since)."""

    record: SessionRecord
    alias_id: str
    source_digest: str = ""
    messages: tuple[bytes, ...] = ()
    """Its conversation, oldest first, encoded as `ConversationStore.append_message` stores them."""


@dataclass(frozen=True, slots=True)
class Audit:
    """Who caused a write and why: what the backend puts in the user's security log, in the same atomic step.

    `max_events` 0 keeps no log. Entries carry the request's client address and device family, never a token.
    """

    actor: str = "system"
    reason: str = ""
    ip: str | None = None
    device: str | None = None
    max_events: int = 0
    ttl: int = 0
    """How long, in milliseconds, a user's log outlives its newest entry."""


NO_AUDIT = Audit()

MAX_ROTATION_HOPS = 8
"""How far `report_reuse` follows a chain of rotations (A rotated to B, B to C, ...)."""


ImportStatus = Literal["pending", "adopted", "ended"]
"""What became of an imported legacy session (sessionhub.legacy): waiting for its browser, adopted by it, or ended
since (expired or revoked)."""

ImportOutcome = Literal["new", "unchanged", "updated", "conflict_adopted", "conflict_ended"]
"""What importing a legacy session did. `new`: stored for the first time. `unchanged`: imported before from the same
source record. `updated`: the source record changed since its import, and the session, still waiting for its
browser, was replaced by the new one. `conflict_adopted` / `conflict_ended`: the source record changed since its
import, but the session was adopted by its browser (sessionhub's copy is kept) or ended (it stays ended) meanwhile:
nothing was written."""


@dataclass(frozen=True, slots=True)
class ImportMarker:
    """What the import marker of a migrated session says: what became of it, and the digest of the source record
    it was imported from."""

    status: ImportStatus
    source_digest: str


ADOPTED = "adopted"
"""The state an import marker holds once its legacy alias has been used; before that it holds the alias id."""


def import_outcome(marker: ImportMarker | None, source_digest: str) -> ImportOutcome:
    """What importing a session whose marker is `marker` from a source record with this digest does (import.lua
    decides the same in Redis; tests/contract/test_legacy.py holds every backend to it)."""
    if marker is None:
        return "new"
    if marker.source_digest == source_digest:
        return "unchanged"
    if marker.status == "adopted":
        return "conflict_adopted"
    return "updated" if marker.status == "pending" else "conflict_ended"


class RotatedAway(enum.Enum):
    """The type of ROTATED_AWAY (an enum of one member, so that type checkers narrow `is ROTATED_AWAY`)."""

    ROTATED_AWAY = "rotated_away"


ROTATED_AWAY: Final = RotatedAway.ROTATED_AWAY
"""What `load` answers for an id that has no session but was rotated away (its rotation marker is still there): the
caller may then ask `report_reuse` whether that is token theft. A plain None means unknown, and nothing more to ask."""


class SessionStore(abc.ABC):
    """The atomic session operations every store implements: what `SessionManager` needs for sessions, users and
    devices. A store may add the capabilities below (SecurityLog, ConversationStore, LegacyStore, Restorable);
    the manager uses each one the store has, and says so clearly when a feature needs one it lacks."""

    name: ClassVar[str]

    async def open(self) -> None:
        """Connect and prepare (load scripts). Raise BackendUnavailable when the store cannot be reached."""

    async def close(self) -> None:
        """Release connections. The backend must not be used afterwards."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def stats(self) -> dict[str, Any]:
        """Counters of this backend for `SessionManager.stats()`; none by default."""
        return {}

    def cached(self, session_id: str, now: int, touch_interval: int) -> SessionRecord | None:
        """What `load` would answer from this process's memory alone, with no I/O (a client cache Redis keeps in
        step), or None: then only `load` can tell. A layer above serves such a read without its call machinery.
        Safe from a thread other than the store's event loop (the sync API): it only reads, and moves an entry up."""
        return None

    @abc.abstractmethod
    async def load(self, session_id: str, now: int, *, touch_interval: int = 0) -> SessionRecord | RotatedAway | None:
        """The live session with this id; else ROTATED_AWAY when the id was rotated away, else None.

        The session's idle deadline slides (`SessionRecord.touched`) only when a touch is due
        (`SessionRecord.touch_due(now, touch_interval)`, `touch_interval` in ms; 0 slides on every read); otherwise
        the record comes back as stored and nothing is written. The rotation marker is looked up only when there
        is no live session.
        """

    @abc.abstractmethod
    async def peek(self, session_id: str, now: int) -> SessionRecord | None:
        """The live session with this id as stored, without sliding its idle deadline (an admin look); else None."""

    @abc.abstractmethod
    async def create(
        self, record: SessionRecord, limit: UserLimit | None, now: int, *, audit: Audit = NO_AUDIT
    ) -> list[str]:
        """Store a new session; with a user and a limit, make room first. Return the ids of evicted sessions.

        Raises SessionLimitExceeded (no session written, only a `limit_reached` event) when the limit refuses it.
        Logs `created`, `evicted` and `limit_reached` for a signed-in user.
        """

    @abc.abstractmethod
    async def update(self, session_id: str, changes: DataChanges, now: int) -> bool:
        """Apply data changes to a live session and slide its idle deadline. False (nothing written) if not live."""

    @abc.abstractmethod
    async def rotate(
        self, session_id: str, new_session_id: str, now: int, *, audit: Audit = NO_AUDIT
    ) -> SessionRecord | None:
        """Move a live session to a new id in the same bucket, touched; the old id stops working at once.

        Leaves a marker from the old id to the new one (until the session's absolute deadline) for `report_reuse`,
        and logs `rotated`. Returns the session under its new id, or None when the old one is not live.
        """

    @abc.abstractmethod
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
        """Replace the previous session (if any) by `record`, a new session of a signed-in user.

        When the previous session is live and is anonymous or belongs to the same user, its data and kind carry over
        into the new one; it is deleted in every case. `changes` (what the caller changed in the previous session's
        data and has not saved, or the whole data when there is no previous session) are applied on top when the
        data carries over or `previous_id` is None, and dropped otherwise, like the rest of that session's data.
        Returns the stored new record and the evicted ids; raises SessionLimitExceeded with nothing written when the
        limit refuses it. Logs like `create`, with `login` for `created`.
        """

    @abc.abstractmethod
    async def delete(self, session_id: str, now: int, *, audit: Audit = NO_AUDIT) -> bool:
        """Delete a session (and its messages); True when a live one was removed (then logged as `revoked`)."""

    @abc.abstractmethod
    async def list_user(self, user_id: str, now: int) -> list[SessionRecord]:
        """The user's live sessions (any order), dropping stale index entries on the way."""

    @abc.abstractmethod
    async def delete_user(
        self, user_id: str, now: int, *, except_id: str | None = None, audit: Audit = NO_AUDIT
    ) -> list[str]:
        """Delete all of the user's live sessions but `except_id`, logging each as `revoked`; return the ids."""

    @abc.abstractmethod
    async def count(self, now: int) -> int:
        """How many live sessions there are, without scanning the keyspace."""

    @abc.abstractmethod
    async def health(self) -> dict[str, Any]:
        """At least `status` ("ok" or "down") and `backend`; never raises."""


class SecurityLog(abc.ABC):
    """A per-user security log written in the same atomic step as the change it records, and the abuse checks that
    read it. Never called on a read that finds its session."""

    @abc.abstractmethod
    async def report_reuse(self, session_id: str, now: int, *, grace: int, revoke: bool, audit: Audit) -> str | None:
        """Called when `load` answered ROTATED_AWAY: was `session_id` rotated away more than `grace` ms ago?

        If so, follow the rotations (at most MAX_ROTATION_HOPS) to the session the token became, log
        `token_reused` for its user, end it when `revoke` (logged as `revoked`), and return its id. Else None.
        """

    @abc.abstractmethod
    async def flag_risk(self, session_id: str, signature: str, risk: str, now: int, *, audit: Audit) -> bool:
        """Remember `signature` (the flagged client) on a live session and log `risk_flagged`, unless that client
        was already the last one flagged. True when something was recorded."""

    @abc.abstractmethod
    async def security_events(self, user_id: str, *, since: int, limit: int) -> list[SecurityEvent]:
        """The user's newest events at or after `since` (ms), newest first, at most `limit`."""


class SharedAbuseCounter(abc.ABC):
    """Unknown-token counts that every process using the store shares (sessionhub.abuse). A store without it (the
    memory store) leaves the counting to each process."""

    @abc.abstractmethod
    async def count_unknown_token(self, address: str, *, window: int) -> tuple[int, int]:
        """Count one unknown token from a client `address`: return how many the address presented in the window
        (`window` ms from the first of them) and the milliseconds until that window ends. Raises
        BackendUnavailable when the store cannot count; the caller then counts in its own process."""


class SessionBrowser(abc.ABC):
    """Every live session, a page at a time, in the order of their ids: what an operator looks through (the CLI's
    `sessions list` without a user, `sessions revoke --all`)."""

    @abc.abstractmethod
    async def browse(self, now: int, *, after: str | None, limit: int) -> list[SessionRecord]:
        """Up to `limit` live sessions whose ids come after `after` (from the first when None), by id. A session
        created or ended while the pages are read may or may not be on them; none is on two."""


class ConversationStore(abc.ABC):
    """Messages kept with a session (sessionhub.conversation).

    A session's messages share its life: rotate and login (when data carries over) move them to the new id; every
    way a session ends (delete, delete_user, eviction, expiry, a login that does not carry data) removes them.
    """

    @abc.abstractmethod
    async def append_message(
        self, session_id: str, message: bytes, cap: int, now: int, *, replay: bool = False
    ) -> int | None:
        """Append one encoded message to a live session's list, keep the newest `cap`, and slide the session's idle
        deadline. Returns how many messages the session now holds, or None (nothing written) if it is not live.

        `replay` is for handing over a message appended elsewhere (ResilientBackend after an outage): it is not
        appended if the list already holds it (the same bytes: role, content and time), so replays are idempotent,
        and the session's deadline does not move (replaying is not activity; the list gets the session's TTL).
        """

    @abc.abstractmethod
    async def load_conversation(
        self, session_id: str, now: int, last: int | None, *, touch_interval: int = 0
    ) -> ConversationRecord | None:
        """A live session, touched when due like `load`, with its newest `last` messages (all when None); else None."""


class LegacyStore(abc.ABC):
    """Sessions imported from a legacy store and the aliases that let a legacy cookie reach them (sessionhub.legacy,
    sessionhub.migrate)."""

    @abc.abstractmethod
    async def import_sessions(self, imports: Sequence[ImportedSession], now: int) -> list[ImportOutcome]:
        """Store each legacy session with its alias and import marker, or bring one imported before up to date with
        its source record, as `ImportOutcome` says; a marker outlives its session, so an adopted or ended session
        never comes back.

        A session stored (or replaced) gets the import's messages as its conversation. A session still waiting for
        its browser whose source record is unchanged but lives longer now (a user active on the legacy application)
        gets the later deadlines. The alias and the marker expire with the
        session's idle and absolute deadlines. The user limit does not apply: a migration must not sign anyone out.
        """

    @abc.abstractmethod
    async def import_markers(self, session_ids: Sequence[str], now: int) -> list[ImportMarker | None]:
        """The import marker of each session id; None for one never imported."""

    @abc.abstractmethod
    async def resolve_alias(self, alias_id: str, now: int) -> str | None:
        """The session id a live legacy alias points at, or None."""

    @abc.abstractmethod
    async def adopt(self, alias_id: str, session_id: str, new_session_id: str, now: int) -> SessionRecord | None:
        """Move the imported session reached by `alias_id` to `new_session_id` (same bucket, touched) and retire the
        alias, atomically and once: a second call, or one after the session ended, returns None and changes nothing.
        """


class Restorable(abc.ABC):
    """What ResilientBackend needs of its primary store to probe it and write back what an outage served."""

    @abc.abstractmethod
    async def instance(self) -> str:
        """An id of the running store that changes when it restarts (and may have lost its sessions).

        Raises BackendUnavailable when the store cannot be reached: ResilientBackend probes with it.
        """

    @abc.abstractmethod
    async def restore(
        self, record: SessionRecord, now: int, *, data_changed: bool, replaces: str | None, if_replaced_exists: bool
    ) -> bool:
        """Write back a session kept elsewhere (during an outage) without undoing anything newer; idempotent.

        When the store holds a more recently active copy, it wins and nothing is written (a tie goes to the record
        when `data_changed`: a write beats a read of the same millisecond). An older copy, even one whose deadline
        passed (the outage kept the session alive elsewhere), gets the record's data if `data_changed`, and its
        later idle deadline and last activity in any case. A session the store does not hold is written, except
        with `if_replaced_exists` when the store no longer holds `replaces` either: it was ended meanwhile.
        `replaces` is an earlier id of the same session (before rotations, same bucket), deleted when the record
        is written. A record that is no longer live at `now` is never written. Returns True when written.
        """


class SessionBackend(SessionStore, SecurityLog, SessionBrowser, ConversationStore, LegacyStore, Restorable):
    """A store with every capability, as each backend sessionhub ships is (memory, Redis, resilient)."""
