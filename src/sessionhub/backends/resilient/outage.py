"""What one outage leaves to hand back: the sessions the fallback store took over, and the journal of their changes.

While the breaker is open every call is served by the fallback (a `MemoryBackend`). A session the fallback does not
hold yet is adopted from the near cache on first use, so its user stays signed in. Each write the fallback serves
is journalled (journal.py) with what the replay needs to know about the session's history in this outage: the id it
had in the primary before it (rotations move it), whether it was born in the fallback (ending it leaves nothing to
replay), and the messages appended meanwhile.
"""

from __future__ import annotations

from collections import Counter

from sessionhub.backends.base import SessionBackend
from sessionhub.backends.resilient.journal import Journal, Restore, Tombstone, UserTombstone
from sessionhub.backends.resilient.near_cache import NearCache
from sessionhub.model import SessionRecord


class Outage:
    def __init__(self, fallback: SessionBackend, near_cache: NearCache, counts: Counter[str]) -> None:
        self.fallback = fallback
        self.near_cache = near_cache
        self.counts = counts
        self.journal = Journal()
        self.held: set[str] = set()
        """Ids the fallback holds or held during this outage: adopted from the near cache at most once."""
        self.origins: dict[str, str] = {}
        """Fallback session id -> the id it had in the primary before the outage (they differ after a rotation)."""
        self.born: set[str] = set()
        """Ids created by the fallback with no call to the primary: ending one leaves nothing to replay."""
        self.rotated_away: set[str] = set()
        """Ids from before the outage that were rotated: deleting one must not end the session that replaced it."""
        self.outbox: dict[str, list[tuple[bytes, int]]] = {}
        """Messages the fallback took (with their cap) per session id, appended to the primary after its restore."""

    def over(self) -> set[str]:
        """The outage ended (its journal replayed): forget its state, and return the ids the fallback held."""
        held = self.held
        self.held, self.origins, self.born, self.rotated_away = set(), {}, set(), set()
        self.outbox = {}  # flushed with the restores; what is left belonged to sessions that ended
        return held

    # -- taking sessions over --------------------------------------------------------------------------------------

    async def adopt(self, session_id: str | None, now: int) -> None:
        """Copy a session from the near cache into the fallback the first time the outage needs it."""
        if session_id is None or session_id in self.held:
            return
        record = self.near_cache.get(session_id)
        if record is None:
            return
        self.held.add(session_id)
        self.origins[session_id] = session_id
        self.counts["adopted_from_near_cache"] += 1
        await self.fallback.create(record, None, now)

    async def adopt_user(self, user_id: str | None, now: int) -> None:
        """Adopt all of a user's cached sessions, so that limits, listings and revocations see them."""
        if user_id is not None:
            for session_id in self.near_cache.user_ids(user_id):
                await self.adopt(session_id, now)

    def created(self, session_id: str, uncertain: bool) -> None:
        """A session the fallback made; `uncertain` when the primary was tried first and may have made it too."""
        self.held.add(session_id)
        if not uncertain:
            self.born.add(session_id)

    # -- journalling -----------------------------------------------------------------------------------------------

    def wrote(self, record: SessionRecord, *, data_changed: bool) -> None:
        """Journal the session as the fallback holds it now."""
        earlier = self.journal.restores(record.id)
        data_changed = data_changed or (earlier is not None and earlier.data_changed)
        self.journal.record(record.id, Restore(record.copy(), data_changed, self.origins.get(record.id)))
        self.near_cache.put(record)

    def read(self, record: SessionRecord, now: int) -> None:
        """Journal a read the fallback served if it slid the session's deadline (its last activity is then `now`).
        A read within the touch interval changed nothing the primary lacks: journalled, its replay would tie with
        the primary's copy, lose, and drop the session from the near cache for the next outage."""
        if record.last_active_at == now:
            self.wrote(record, data_changed=False)

    def ended(self, *session_ids: str) -> None:
        """Tombstones for sessions ended during the outage, naming also the id each had before it."""
        for session_id in session_ids:
            self.near_cache.discard(session_id)
            self.outbox.pop(session_id, None)
            if session_id in self.rotated_away or self.journal.ended(session_id):
                continue  # ended already: a tombstone, or its successor's restore, deletes it from the primary
            origin = self.origins.pop(session_id, None)
            ids = [] if session_id in self.born else [session_id]
            if origin is not None and origin != session_id:
                ids.append(origin)
            if ids:
                self.journal.record(session_id, Tombstone(tuple(ids)))
            else:
                self.journal.forget_restore(session_id)

    def user_signed_out(self, user_id: str, now: int) -> None:
        """The primary may hold sessions of the user this process never saw: they end too, on replay."""
        self.journal.record_user(UserTombstone(user_id, now))

    def rotated(self, session_id: str, record: SessionRecord, uncertain: bool) -> None:
        """The fallback moved `session_id` to `record.id`."""
        new_session_id = record.id
        self.move_outbox(session_id, new_session_id)
        self.created(new_session_id, uncertain)
        self.near_cache.discard(session_id)
        origin = self.origins.pop(session_id, None)
        if origin is not None:
            self.origins[new_session_id] = origin
        if origin == session_id:
            # Writing back the new id deletes this one in the same step (`restore(replaces=...)`).
            self.journal.forget_restore(session_id)
            self.rotated_away.add(session_id)
        elif session_id in self.born:
            self.journal.forget_restore(session_id)
        else:
            self.journal.record(session_id, Tombstone((session_id,)))
        self.wrote(record, data_changed=True)

    # -- messages --------------------------------------------------------------------------------------------------

    def queue_message(self, session_id: str, message: bytes, cap: int) -> None:
        self.outbox.setdefault(session_id, []).append((message, cap))

    def move_outbox(self, session_id: str, new_session_id: str) -> None:
        pending = self.outbox.pop(session_id, None)
        if pending is not None:
            self.outbox[new_session_id] = pending
