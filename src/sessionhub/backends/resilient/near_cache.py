"""The sessions this process used most recently, kept so that their users stay signed in through an outage.

Bounded: the least recently used session is dropped when it is full. It holds copies, indexed by user as well, so
that listing or revoking a user's sessions during an outage sees every session this process knew of.
"""

from __future__ import annotations

from collections import OrderedDict

from sessionhub.model import DataChanges, SessionRecord


class NearCache:
    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("the near cache size cannot be negative")
        self.size = size
        self._records: OrderedDict[str, SessionRecord] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._records)

    def put(self, record: SessionRecord) -> None:
        if self.size == 0:
            return
        self.discard(record.id)
        self._records[record.id] = record.copy()
        if record.user_id is not None:
            self._by_user.setdefault(record.user_id, set()).add(record.id)
        while len(self._records) > self.size:
            self.discard(next(iter(self._records)))

    def move_up(self, session_id: str) -> bool:
        """Make a held session the most recently used; False when it is not held. Safe from another thread than the
        loop's (the sync API), unlike the other methods."""
        try:
            self._records.move_to_end(session_id)
        except KeyError:
            return False
        return True

    def get(self, session_id: str) -> SessionRecord | None:
        record = self._records.get(session_id)
        if record is None:
            return None
        self._records.move_to_end(session_id)
        return record.copy()

    def live(self, session_id: str, now: int) -> SessionRecord | None:
        """A copy of the cached session if it is still live at `now`, else None."""
        record = self.get(session_id)
        return record if record is not None and record.is_live(now) else None

    def remember(self, session_id: str, record: SessionRecord | None) -> None:
        """Keep what the primary answered for `session_id`: the record, or that there is none."""
        if record is None:
            self.discard(session_id)
        else:
            self.put(record)

    def apply(self, session_id: str, changes: DataChanges, now: int) -> None:
        """Mirror a save the store accepted."""
        record = self._records.get(session_id)
        if record is None:
            return
        record.data.update(changes.updated)
        for key in changes.removed:
            record.data.pop(key, None)
        record.touched(now)
        self._records.move_to_end(session_id)

    def discard(self, session_id: str) -> None:
        record = self._records.pop(session_id, None)
        if record is None or record.user_id is None:
            return
        ids = self._by_user[record.user_id]
        ids.discard(session_id)
        if not ids:
            del self._by_user[record.user_id]

    def user_ids(self, user_id: str) -> list[str]:
        return list(self._by_user.get(user_id, ()))

    def records(self) -> list[SessionRecord]:
        return [record.copy() for record in self._records.values()]
