"""What a SessionManager tells the objects in its `observers` list (metrics, logging, your own hooks).

Observers are called synchronously on the request's path: keep them quick and never raise from them. With an empty
list the manager skips timing altogether, so having none costs nothing. Labels are low-cardinality words (a session
kind, a reason, a risk level): never a token, a session id or a user id.
"""

from __future__ import annotations

from typing import Final, Protocol

# What `session_event` reports, and the label that comes with it.
CREATED: Final = "created"
"""A session was created (by create or login); label: its kind."""
ROTATED: Final = "rotated"
"""A session moved to a new token; label: its kind."""
REVOKED: Final = "revoked"
"""A live session was ended early; label: logout, revoked, sign_out_everywhere, sign_out_other_devices, risk or
token_reused (the free-text reason given to `revoke` goes to the security log only)."""
EVICTED: Final = "evicted"
"""A session was signed out by the per-user limit; label: "limit"."""
LIMIT_REFUSED: Final = "limit_refused"
"""A new session was refused by the per-user limit; label: "reject"."""
TOKEN_REJECTED: Final = "token_rejected"  # noqa: S105 (an event name, not a secret)
"""A presented token was no session; label: "malformed" or "unknown"."""
TOKEN_ABUSE: Final = "token_abuse"  # noqa: S105 (an event name, not a secret)
"""One client address crossed the unknown-token threshold ("burst") or was refused for it ("throttled")."""
TOKEN_REUSED: Final = "token_reused"  # noqa: S105 (an event name, not a secret)
"""A rotated-away token came back (possible theft); label: the policy applied ("record" or "revoke")."""
RISK_FLAGGED: Final = "risk_flagged"
"""A request's client differed from its session's at or above `risk_threshold`; label: the level."""


class SessionObserver(Protocol):
    def operation_finished(self, operation: str, backend: str, seconds: float) -> None:
        """A backend call of the manager's `operation` (get, create, save, ...) took `seconds`, failed or not."""

    def session_event(self, event: str, label: str, count: int) -> None:
        """`count` occurrences of `event` (the constants above) happened."""
