"""What a session is: the record a backend stores, and the `Session` an application holds.

Session data is JSON (plain or typed: `sessionhub.codecs`), one document per top-level key. Keeping the stored bytes
of each key lets `save` compare what the application holds now with what was loaded and write only the keys that
changed, nested changes included (`session.data["cart"].append(x)` changes the bytes of "cart"), with no proxy
objects and no "modified" flag to forget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from sessionhub.client import ClientInfo
from sessionhub.codecs import JSON, DataCodec
from sessionhub.errors import SessionDataError
from sessionhub.risk import Risk


def is_storable_text(text: str) -> bool:
    """Whether every store can keep this str: they all keep UTF-8, which has no lone surrogates ("\\ud800")."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_storable(user_id: str | None, data_keys: Iterable[str] = ()) -> None:
    """SessionDataError unless every store can keep this user id and these data keys: the one check, made by the
    manager before anything is sent and by each store again, so that memory refuses what Redis would."""
    if user_id is not None and not is_storable_text(user_id):
        raise SessionDataError("a user id is not valid Unicode text (a lone surrogate)")
    keys = data_keys if isinstance(data_keys, dict | tuple | list) else tuple(data_keys)
    # All-ASCII keys, the usual case, are checked in C; only the others are encoded to find out.
    if not all(map(str.isascii, keys)) and not all(map(is_storable_text, keys)):
        raise SessionDataError("a session data key is not valid Unicode text (a lone surrogate)")


_HINTS = {
    "json": " (JSON holds str, numbers, bool, None, lists and str-keyed dicts; data_codec='typed-json' also keeps "
    "datetimes, UUIDs, Decimals, bytes, tuples, sets and other dict keys)",
    "typed-json": " (floats and Decimals must be finite)",
}


def encode_value(key: str, value: Any, codec: DataCodec = JSON, *, stored: bytes | None = None) -> bytes:
    """The stored form of one top-level value, or SessionDataError when it would not come back unchanged.

    A value that encodes to the bytes already `stored` came back from the codec once, so it skips the round-trip
    check. The error names the key and the type, never the value (session data may be secret).
    """
    try:
        encoded = codec.encode(value)
    except TypeError as exc:
        raise SessionDataError(
            f"session data key {key!r} cannot be stored as {codec.name}: {exc}{_HINTS.get(codec.name, '')}"
        ) from None
    if encoded == stored:
        return stored
    if codec.decode(encoded) != value:
        raise SessionDataError(
            f"session data key {key!r} would not come back unchanged from {codec.name}{_HINTS.get(codec.name, '')}"
        )
    # orjson's bytes keep its whole write buffer (4 KiB) however short the document; the memory store, the near
    # cache and loaded sessions keep these, so an exact-size copy is what leaves (4 KiB -> ~100 B per key kept).
    return bytes(memoryview(encoded))


@dataclass(frozen=True, slots=True)
class DataChanges:
    """What `save` writes: the encoded keys that changed or were added, and the keys that were removed."""

    updated: dict[str, bytes] = field(default_factory=dict)
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.updated or self.removed)


_EMPTY_DOCUMENT = b"{}"


def _document(data: Mapping[str, Any], codec: DataCodec) -> bytes | None:
    """All of the data as one document; None when it cannot be stored (the key-by-key check says why)."""
    try:
        return codec.encode(data)
    except TypeError:
        return None


class SessionData(dict[str, Any]):
    """The session's data: a plain dict that remembers the stored form of what it was loaded with."""

    __slots__ = ("_codec", "_loaded_document", "_stored", "cleared")

    def __init__(self, stored: Mapping[str, bytes] | None = None, codec: DataCodec = JSON) -> None:
        self._codec = codec
        self.cleared = False
        """True once `clear()` was called: the middleware ends the session, as Starlette's SessionMiddleware users
        expect (keys written afterwards start a new one)."""
        self._stored: dict[str, bytes] = dict(stored) if stored else {}
        # All of the data as one document, as loaded: data that did not change encodes to these same bytes.
        self._loaded_document: bytes | None = _EMPTY_DOCUMENT
        if stored:
            decode = codec.decode
            for key, raw in stored.items():  # key by key, no temporary dict: every read of a session builds one
                self[key] = decode(raw)
            self._loaded_document = _document(self, codec)

    @classmethod
    def fresh(cls, data: Mapping[str, Any], codec: DataCodec) -> SessionData:
        """Data for a session that has none stored yet: every key is a change."""
        fresh = cls(codec=codec)
        fresh.update(data)
        return fresh

    @property
    def codec(self) -> DataCodec:
        """The codec the data is stored with (the manager's)."""
        return self._codec

    def clear(self) -> None:
        super().clear()
        self.cleared = True

    def unchanged(self, max_bytes: int) -> bool:
        """True when the data encodes exactly as it was loaded, within `max_bytes`: saving would write nothing.

        One encoding of the whole data, for the common request that changes nothing. False when that does not tell
        (the data changed, or was saved since): then `pending_changes` compares key by key.
        """
        loaded = self._loaded_document
        # Equal documents mean the same keys in the same order, each encoding as it did when loaded (to its stored
        # bytes: those are the codec's own output). The size check is conservative: the document is longer than the
        # keys and values that `max_bytes` counts.
        return loaded is not None and len(loaded) <= max_bytes and _document(self, self._codec) == loaded

    def pending_changes(self, max_bytes: int) -> DataChanges:
        """Encode the data and compare it with what is stored; raise SessionDataError before anything is written."""
        encoded: dict[str, bytes] = {}
        size = 0
        for key, value in self.items():
            if not isinstance(key, str):
                raise SessionDataError(f"session data keys must be str, not {type(key).__name__}")
            if key not in self._stored:
                check_storable(None, (key,))
            raw = encode_value(key, value, self._codec, stored=self._stored.get(key))
            encoded[key] = raw
            size += len(key) + len(raw)
        if size > max_bytes:
            raise SessionDataError(f"session data is {size} bytes, over the limit of {max_bytes} (max_data_bytes)")
        return DataChanges(
            updated={key: raw for key, raw in encoded.items() if self._stored.get(key) != raw},
            removed=tuple(key for key in self._stored if key not in encoded),
        )

    def mark_saved(self, changes: DataChanges) -> None:
        # The data may have changed again while the save was awaited: `unchanged` cannot tell from now on.
        self._loaded_document = None
        self._stored.update(changes.updated)
        for key in changes.removed:
            self._stored.pop(key, None)


def is_live_at(now: int, expires_at: int, absolute_expires_at: int) -> bool:
    """A session is live before both its idle and its absolute deadline, by the caller's clock (so that a store that
    has not expired it yet never serves it late). Mirrored in Lua by is_live (backends/redis/lua/helpers.lua)."""
    return now < expires_at and now < absolute_expires_at


@dataclass(slots=True)
class SessionRecord:
    """A session as a backend stores it. Times are integer milliseconds since the epoch (UTC)."""

    id: str
    user_id: str | None
    kind: str
    created_at: int
    last_active_at: int
    expires_at: int
    """Idle deadline: moves forward on every use, never past `absolute_expires_at`."""
    absolute_expires_at: int
    idle_ttl: int
    """Idle timeout in milliseconds, kept per session so each kind can have its own."""
    client: ClientInfo
    data: dict[str, bytes]
    flagged_client: str | None = None
    """Signature of the last client flagged as risky on this session (sessionhub.risk), so it is recorded once."""
    authenticated_at: int | None = None
    """When the user last proved who they are (a login or a re-authentication); None for an anonymous session.
    A signed-in session's absolute deadline counts from it, so only an authentication starts a new lifetime."""
    remembered: bool | None = None
    """The sign-in's "remember me" choice: True (remember_ttl, a cookie that outlives the browser), False (a
    browser-session cookie), None (not chosen: the cookie settings decide)."""

    @classmethod
    def new(
        cls,
        session_id: str,
        *,
        user_id: str | None,
        kind: str,
        client: ClientInfo,
        now: int,
        idle_ttl: int,
        absolute_ttl: int,
        authenticated_at: int | None = None,
        remembered: bool | None = None,
    ) -> SessionRecord:
        """A session starting at `now`, with no data: idle timeout `idle_ttl` ms, absolute timeout `absolute_ttl` ms
        from `authenticated_at` for a signed-in session (now when not given: a sign-in), from now for an anonymous
        one; the idle deadline never past the absolute one."""
        if user_id is None:
            authenticated_at = None
        elif authenticated_at is None:
            authenticated_at = now
        absolute = (authenticated_at if authenticated_at is not None else now) + absolute_ttl
        return cls(
            id=session_id, user_id=user_id, kind=kind, created_at=now, last_active_at=now,
            expires_at=min(now + idle_ttl, absolute), absolute_expires_at=absolute, idle_ttl=idle_ttl,
            client=client, data={}, authenticated_at=authenticated_at, remembered=remembered,
        )  # fmt: skip

    def is_live(self, now: int) -> bool:
        return is_live_at(now, self.expires_at, self.absolute_expires_at)

    def touched(self, now: int) -> None:
        """Slide the idle deadline: mirrored in Lua by idle_deadline and touch (backends/redis/lua/helpers.lua)."""
        self.last_active_at = now
        self.expires_at = min(now + self.idle_ttl, self.absolute_expires_at)

    def copy(self) -> SessionRecord:
        """A copy that shares nothing mutable with this record (backends and caches hand out copies on every read:
        positional, not `dataclasses.replace`, which costs twice as much)."""
        copied = SessionRecord(*_RECORD_FIELDS(self))
        copied.data = dict(self.data)
        return copied

    def touch_due(self, now: int, interval: int) -> bool:
        """Whether a read at `now` slides the idle deadline, given the touch interval (ms, `Settings.touch_interval`).

        Reads within the interval of the last slide write nothing. The interval is capped at a tenth of the idle
        timeout, so a short timeout is shortened by at most 10%. Mirrored in Lua by touch_due
        (backends/redis/lua/helpers.lua).
        """
        return now - self.last_active_at >= min(interval, self.idle_ttl // 10)


def eviction_order(records: Iterable[SessionRecord]) -> list[SessionRecord]:
    """A user's sessions in the order a full session limit signs them out: the least recently active first, the
    oldest first among equals. Mirrored in Lua by evicts_before (backends/redis/lua/helpers.lua)."""
    return sorted(records, key=lambda record: (record.last_active_at, record.created_at))


def carries_over(previous_user_id: str | None, user_id: str) -> bool:
    """Whether a login keeps the previous session's data, kind and messages: when it was anonymous or already this
    user's. Mirrored in Lua by carried_from (backends/redis/lua/helpers.lua)."""
    return previous_user_id is None or previous_user_id == user_id


_RECORD_FIELDS = attrgetter(*(field.name for field in fields(SessionRecord)))


def utc(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


class Session:
    """A session as the application sees it.

    `id` is the public handle (safe to show and log); `token` is the secret cookie value, present only on sessions
    returned by create, get, rotate and login, never on listed ones. Change `data` like a dict, then `save`.
    """

    __slots__ = (
        *("_authenticated_at", "_times", "client", "data", "id", "kind", "reauthenticate", "remembered", "risk"),
        *("token", "user_id"),
    )

    def __init__(self, record: SessionRecord, token: str | None, codec: DataCodec = JSON) -> None:
        self.id = record.id
        self.token = token
        self.user_id = record.user_id
        self.kind = record.kind
        self.data = SessionData(record.data, codec)
        self.client = record.client
        # Milliseconds, turned into datetimes only when asked for: most requests never look at them.
        self._times = (record.created_at, record.last_active_at, record.expires_at, record.absolute_expires_at)
        self._authenticated_at = record.authenticated_at
        self.remembered = record.remembered
        """The sign-in's "remember me" choice (`SessionManager.login(..., remember=...)`); None when not made."""
        self.risk: Risk | None = None
        """How the request's client compares with the session's; None when the read was not told the client."""
        self.reauthenticate = False
        """True when the risk policy asks the application to confirm the user's identity again."""

    @property
    def created_at(self) -> datetime:
        return utc(self._times[0])

    @property
    def last_active_at(self) -> datetime:
        return utc(self._times[1])

    @property
    def expires_at(self) -> datetime:
        """Idle deadline: moves forward on every use, never past `absolute_expires_at`."""
        return utc(self._times[2])

    @property
    def absolute_expires_at(self) -> datetime:
        return utc(self._times[3])

    @property
    def authenticated_at(self) -> datetime | None:
        """When the user last signed in or re-authenticated on this session; None when anonymous. The absolute
        deadline counts from it (`SessionManager.authentication_age` tells how long ago it was, for step-up)."""
        at = self._authenticated_at
        return utc(at) if at is not None else None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    def __repr__(self) -> str:
        # Never the token: reprs end up in logs and tracebacks.
        return f"Session(id={self.id!r}, user_id={self.user_id!r}, kind={self.kind!r})"


# -- conversations -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ConversationRecord:
    """A live session with (the newest of) its stored messages, oldest first, and how many it holds in all."""

    record: SessionRecord
    messages: list[bytes]
    count: int
