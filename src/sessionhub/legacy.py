"""Sessions brought over from a legacy store, and how a browser's legacy cookie finds its way to them.

A migrated session is stored like any other, with no token: nobody holds one yet. What the browser holds is the
legacy cookie value, itself a secret, so the store never sees it either. It keeps a *legacy alias* instead: the
alias id (a bucket, then 128 bits of SHA-256 of the legacy value, like a session id) pointing at the migrated
session, with a TTL equal to the session's remaining lifetime.

On the browser's first request with its legacy cookie, `SessionManager.adopt_legacy` resolves the alias, moves the
session to a fresh sessionhub token (as `rotate` does) and retires the alias: one use only, so a stolen copy of the
legacy cookie is worthless once the owner has been back. The middleware then sets the new cookie and clears the
legacy one (`SessionManager.adopt_legacy_cookies`).

The id of a migrated session is derived from its alias and user (`migrated_session_id`), so importing the same
legacy record twice is recognised and never makes a second session: a migration can be interrupted and re-run.
Each import leaves a marker beside the session (same bucket) saying which alias it came from, or that it has been
adopted; it lives as long as the session could.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from sessionhub.client import ClientInfo
from sessionhub.tokens import bucket_for_user

MAX_LEGACY_TOKEN_LENGTH = 512
# Cookie values are printable ASCII without spaces; shorter than 8 characters cannot have been a secret.
_LEGACY_TOKEN_PATTERN = re.compile(rf"[!-~]{{8,{MAX_LEGACY_TOKEN_LENGTH}}}")


def legacy_alias_id(legacy_token: object) -> str | None:
    """The alias id of a legacy cookie value, or None when it cannot be one (wrong type, length or characters)."""
    if not isinstance(legacy_token, str) or not _LEGACY_TOKEN_PATTERN.fullmatch(legacy_token):
        return None
    # Domain-separated from session ids, so that no legacy value can name a sessionhub session.
    return hashlib.sha256(b"sessionhub legacy alias\0" + legacy_token.encode("ascii")).hexdigest()[:34]


def migrated_session_id(alias_id: str, user_id: str | None) -> str:
    """The id of the session imported for `alias_id`: in the user's bucket, else in the alias's own."""
    bucket = bucket_for_user(user_id) if user_id is not None else alias_id[:2]
    return bucket + hashlib.sha256(b"sessionhub migrated session\0" + alias_id.encode("ascii")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class LegacyMessage:
    """One message of a legacy conversation (a demo or chat session), oldest first in `LegacySession.messages`."""

    role: str
    content: str
    at: int
    """When it was written, milliseconds since the epoch."""


@dataclass(slots=True)
class LegacySession:
    """One legacy session, normalised by a migration source. Times are milliseconds since the epoch (UTC).

    `expires_at` is when the legacy store would have ended it (from its TTL or its own expiry field); None when it
    had no end. Data values are anything JSON can hold; `SessionManager.prepare_import` checks that.
    `messages` become the session's conversation (`SessionManager.get_messages`), the newest `max_messages` kept.
    `source_digest` identifies the legacy record as it was read: importing it again with another digest brings the
    migrated session up to date (`LegacyStore.import_sessions`); left empty, a session is imported once.
    """

    alias_id: str
    user_id: str | None
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    client: ClientInfo = field(default_factory=ClientInfo)
    created_at: int | None = None
    last_active_at: int | None = None
    expires_at: int | None = None
    messages: list[LegacyMessage] = field(default_factory=list)
    source_digest: str = ""


class LegacyFallback(Protocol):
    """Where `SessionManager.adopt_legacy` looks for a legacy cookie's session that no migration has imported yet:
    the legacy stores themselves, only read (`sessionhub.migrate.read_through`, the `legacy_stores` setting)."""

    async def fetch(self, legacy_token: str, now: int) -> LegacySession | None:
        """The live legacy session this cookie value reaches, its TTL counted from `now` (ms, the manager's clock),
        or None; never raises for a store that is down."""

    async def close(self) -> None: ...
