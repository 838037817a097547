"""What ResilientBackend did in memory during an outage, to be written back to the primary store on recovery.

Every entry is idempotent to replay (a replay cut short by another failure simply runs again) and carries absolute
times and whole records, never "add one" or "now". Entries about one session coalesce: only the latest matters
(a session saved a hundred times during the outage is written back once), so the journal grows with the number of
sessions touched, not with the number of requests.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass

from sessionhub.model import SessionRecord


@dataclass(frozen=True, slots=True)
class Restore:
    """Write back this session as it is now (`SessionBackend.restore`)."""

    record: SessionRecord
    data_changed: bool
    """True when the outage changed its data (or created it); False when it was only read (deadline slid)."""
    origin: str | None
    """The id it had before the outage (before any rotation), when it existed then; None when created since."""


@dataclass(frozen=True, slots=True)
class Tombstone:
    """Delete these ids: a session ended during the outage, and the id it had before the outage."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserTombstone:
    """Delete the user's sessions created at or before `at` ("sign out everywhere") that this process never held.

    The store may hold sessions of the user that this process never saw; they must end too. The ones it did hold
    (including the one kept, if any) have entries of their own.
    """

    user_id: str
    at: int


Entry = Restore | Tombstone | UserTombstone


class Journal:
    def __init__(self) -> None:
        self._entries: OrderedDict[str | int, Entry] = OrderedDict()
        self._serials = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, session_id: str, entry: Restore | Tombstone) -> None:
        """The latest word about one session, replacing any earlier one and replayed after everything before it."""
        self._entries.pop(session_id, None)
        self._entries[session_id] = entry

    def forget_restore(self, session_id: str) -> None:
        """The session is not to be written back any more (it ended without ever reaching the store, or another
        entry now stands for it). A tombstone stays."""
        if isinstance(self._entries.get(session_id), Restore):
            del self._entries[session_id]

    def record_user(self, entry: UserTombstone) -> None:
        self._entries[next(self._serials)] = entry

    def restores(self, session_id: str) -> Restore | None:
        entry = self._entries.get(session_id)
        return entry if isinstance(entry, Restore) else None

    def ended(self, session_id: str) -> bool:
        return isinstance(self._entries.get(session_id), Tombstone)

    def head(self, count: int) -> list[tuple[str | int, Entry]]:
        """The `count` oldest entries. Any two are about different sessions, so they can be replayed together."""
        return list(itertools.islice(self._entries.items(), count))

    def done(self, key: str | int, entry: Entry) -> None:
        """Drop an entry once replayed, unless a newer one about the same session replaced it meanwhile."""
        if self._entries.get(key) is entry:
            del self._entries[key]
