"""Conversations: the message history a session can carry, and the demo sessions built around one.

A message is stored as one small JSON document (role, content, time) appended to a list that lives next to the
session and shares its lifetime: it slides with the session, moves with it on rotation and login, and goes with it
on logout, revocation, eviction and expiry. Everything here is checked before the store sees it, so a bad message
raises `SessionDataError` and nothing is written.

`Conversations` is the layer `SessionManager` gets these from: it uses the manager's public operations and the
store's `ConversationStore` capability, nothing else.

A demo session is a session of kind `demo` with two reserved data keys: `demo.industry` (the industry context it was
created for) and `demo.progress` (step, total and status of the demo's walk-through).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

import orjson

from sessionhub.backends.base import ConversationStore, SessionStore
from sessionhub.client import ClientInfo
from sessionhub.codecs import DataCodec
from sessionhub.errors import SessionDataError, SessionNotFound
from sessionhub.model import ConversationRecord, Session
from sessionhub.settings import DEMO_KIND, Settings
from sessionhub.tokens import session_id_for, session_id_or_not_found

Role = Literal["user", "assistant", "system"]
ROLES: tuple[str, ...] = get_args(Role)

INDUSTRY_KEY = "demo.industry"
PROGRESS_KEY = "demo.progress"
MAX_INDUSTRY_LENGTH = 64
_STATUS_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
NEW_DEMO_STATUS = "new"


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DemoStatus:
    """Where a demo session stands. `messages` counts the messages kept (at most `max_messages`)."""

    session_id: str
    user_id: str | None
    industry: str
    messages: int
    step: int
    total: int
    status: str
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime


def encode_message(role: object, content: object, now: int, max_length: int) -> bytes:
    """The stored form of one message, or SessionDataError (before anything is written) when it cannot be kept."""
    if role not in ROLES:
        raise SessionDataError(f"message role must be one of {', '.join(ROLES)}")
    if not isinstance(content, str) or not content.strip():
        raise SessionDataError("message content must be a non-blank str")
    if len(content) > max_length:
        raise SessionDataError(
            f"message content is {len(content)} characters, over the limit of {max_length} (max_message_length)"
        )
    try:
        return orjson.dumps({"r": role, "c": content, "t": now})
    except TypeError:  # lone surrogates: not encodable as UTF-8
        raise SessionDataError("message content is not valid Unicode text") from None


def decode_message(raw: bytes) -> Message:
    document: dict[str, Any] = orjson.loads(raw)
    created_at = datetime.fromtimestamp(document["t"] / 1000, tz=UTC)
    return Message(role=document["r"], content=document["c"], created_at=created_at)


def check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise SessionDataError("limit must be None or an int >= 0")
    return limit


def check_industry(industry: object) -> str:
    if not isinstance(industry, str) or not industry.strip() or len(industry) > MAX_INDUSTRY_LENGTH:
        raise SessionDataError(f"industry must be a non-blank str of at most {MAX_INDUSTRY_LENGTH} characters")
    return industry


def new_demo_data(industry: object) -> dict[str, Any]:
    return {
        INDUSTRY_KEY: check_industry(industry),
        PROGRESS_KEY: {"step": 0, "total": 0, "status": NEW_DEMO_STATUS},
    }


def check_status(status: object) -> str:
    if not isinstance(status, str) or not _STATUS_PATTERN.fullmatch(status):
        raise SessionDataError("status must be 1-32 characters: a lowercase letter, then letters, digits, _ or -")
    return status


def progress_value(step: object, total: object, status: object) -> dict[str, Any]:
    """The stored progress, checked: 0 <= step <= total, total >= 1, status a short lowercase label."""
    if isinstance(step, bool) or isinstance(total, bool) or not isinstance(step, int) or not isinstance(total, int):
        raise SessionDataError("step and total must be ints")
    if total < 1 or not 0 <= step <= total:
        raise SessionDataError("progress needs total >= 1 and 0 <= step <= total")
    return {"step": step, "total": total, "status": check_status(status)}


def demo_status_of(conversation: ConversationRecord, codec: DataCodec) -> DemoStatus | None:
    """The status of a demo session, or None when the conversation is not a demo session's."""
    session = Session(conversation.record, None, codec)
    industry = session.data.get(INDUSTRY_KEY)
    if session.kind != DEMO_KIND or not isinstance(industry, str):
        return None
    progress = session.data.get(PROGRESS_KEY)
    if not isinstance(progress, dict):
        progress = {}
    return DemoStatus(
        session_id=session.id,
        user_id=session.user_id,
        industry=industry,
        messages=conversation.count,
        step=progress.get("step", 0),
        total=progress.get("total", 0),
        status=progress.get("status", NEW_DEMO_STATUS),
        created_at=session.created_at,
        last_active_at=session.last_active_at,
        expires_at=session.expires_at,
    )


class Conversations:
    """Conversations and demo sessions, over the session API of the `SessionManager` this is part of."""

    settings: Settings
    codec: DataCodec
    backend: SessionStore

    if TYPE_CHECKING:  # what the layer uses of the manager

        async def create(
            self,
            *,
            user_id: str | None = None,
            data: Mapping[str, Any] | None = None,
            kind: str = "user",
            client: ClientInfo | None = None,
            replaces: Session | None = None,
        ) -> Session: ...

        async def get(self, token: str | None, *, client: ClientInfo | None = None) -> Session | None: ...

        async def save(self, session: Session) -> bool: ...

        def _now(self) -> int: ...

        def _touch_interval(self) -> int: ...

        def _missing(self, feature: str) -> Exception: ...

    def _store(self) -> ConversationStore:
        if isinstance(self.backend, ConversationStore):
            return self.backend
        raise self._missing("conversations")

    async def create_demo_session(
        self,
        *,
        industry: str,
        user_id: str | None = None,
        client: ClientInfo | None = None,
        replaces: Session | None = None,
    ) -> Session:
        """A new demo session (kind `demo`, idle timeout `Settings.idle_ttl_for("demo")`) for `industry`, its progress
        at step 0. `replaces`: the session it takes over from, whose sign-in it carries (`SessionManager.create`)."""
        data = new_demo_data(industry)
        return await self.create(user_id=user_id, data=data, kind=DEMO_KIND, client=client, replaces=replaces)

    async def add_message(self, token: str | None, role: str, content: str) -> int:
        """Append a message to the session's conversation in one atomic step, keeping the newest `max_messages`,
        and slide the session's idle deadline. Returns how many messages the session now holds.

        Raises SessionDataError for an unknown role or blank or over-long content, and SessionNotFound when the
        session is not live; in both cases nothing is stored.
        """
        now = self._now()
        message = encode_message(role, content, now, self.settings.max_message_length)
        session_id = session_id_or_not_found(token, "add a message")
        length = await self._store().append_message(session_id, message, self.settings.max_messages, now)
        if length is None:
            raise SessionNotFound(f"session {session_id} no longer exists; the message was not stored")
        return length

    async def get_messages(self, token: str | None, *, limit: int | None = None) -> list[Message]:
        """The conversation, oldest first: the newest `limit` messages, or all that are kept. Raises SessionNotFound
        when the session is not live."""
        last = check_limit(limit)
        session_id = session_id_or_not_found(token, "read messages")
        conversation = await self._store().load_conversation(
            session_id, self._now(), last, touch_interval=self._touch_interval()
        )
        if conversation is None:
            raise SessionNotFound(f"session {session_id} no longer exists")
        return [decode_message(raw) for raw in conversation.messages]

    async def set_progress(self, token: str | None, *, step: int, total: int, status: str) -> None:
        """Record where a demo session stands (0 <= step <= total, status a short label such as `in_progress`).

        Raises SessionDataError for bad values or a session that is not a demo session, SessionNotFound when the
        session is not live.
        """
        progress = progress_value(step, total, status)
        session = await self.get(token)
        if session is None:
            raise SessionNotFound("cannot set progress: no live session for this token")
        if session.kind != DEMO_KIND:
            raise SessionDataError(f"session {session.id} is not a demo session")
        session.data[PROGRESS_KEY] = progress
        await self.save(session)

    async def demo_status(self, token: str | None) -> DemoStatus | None:
        """Industry, message count, progress, status and times of a live demo session; None for any other token."""
        session_id = session_id_for(token)
        if session_id is None:
            return None
        conversation = await self._store().load_conversation(
            session_id, self._now(), 0, touch_interval=self._touch_interval()
        )
        return demo_status_of(conversation, self.codec) if conversation is not None else None
