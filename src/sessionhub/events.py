"""Security events: what happened to a user's sessions, kept per user for the security team and the user.

Each signed-in user has a capped log with a time to live. The backends write its entries inside the same atomic
step as the change they describe (a Redis script appends to a stream in the user's bucket; memory appends to a
bounded deque), so a write gains no round trip and a read never touches the log. Anonymous sessions have no log.

An event names sessions by their public ids, never by token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

CREATED: Final = "created"
"""A signed-in session was created with `create(user_id=...)`."""
LOGIN: Final = "login"
"""The user signed in; `related_session_id` is the session it replaced, if any."""
ROTATED: Final = "rotated"
"""The session moved to a new token; `session_id` is the new id, `related_session_id` the old one."""
REVOKED: Final = "revoked"
"""A session was ended before its time; `reason` and `actor` say why and by whom."""
EVICTED: Final = "evicted"
"""A session was signed out to make room under `max_sessions_per_user`; `related_session_id` is the newcomer."""
LIMIT_REACHED: Final = "limit_reached"
"""A new session met the user's session limit (it evicted others, or was refused under the `reject` policy)."""
RISK_FLAGGED: Final = "risk_flagged"
"""A request's client differed from the session's; `risk` is the level and `reason` the differences."""
TOKEN_REUSED: Final = "token_reused"  # noqa: S105 (an event name, not a secret)
"""A token rotated away earlier was presented again (possible theft); `session_id` is where it was rotated to."""

EVENT_TYPES: Final = (CREATED, LOGIN, ROTATED, REVOKED, EVICTED, LIMIT_REACHED, RISK_FLAGGED, TOKEN_REUSED)

# Actors: who caused a change.
USER: Final = "user"
"""The session's own holder (logout, "sign out my other devices")."""
ADMIN: Final = "admin"
"""Someone acting on the user's sessions from outside (support staff, the admin CLI)."""
SYSTEM: Final = "system"
"""sessionhub itself (limits, risk and token-reuse policies)."""


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One entry of a user's security log."""

    type: str
    at: datetime
    session_id: str | None = None
    related_session_id: str | None = None
    reason: str | None = None
    actor: str | None = None
    ip: str | None = None
    """The client address of the request that caused the event."""
    device: str | None = None
    """The browser and OS family of that request ("Firefox on Linux"), never the full user agent."""
    risk: str | None = None
    """For `risk_flagged`: low, medium or high."""
