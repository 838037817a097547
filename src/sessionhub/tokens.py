"""Session tokens and the public session ids derived from them.

A token is the secret the browser holds: two hex characters naming its *bucket*, then 256 random bits as URL-safe
base64 (45 characters in all). The store never sees the token. It keys the session by the session id, the bucket
followed by 128 bits of the token's SHA-256 digest, and that id is also the public handle shown in "my sessions"
lists, logs and the admin CLI: knowing it reveals nothing that lets anyone use the session.

The bucket exists for Redis Cluster: it is the hash tag of every key of the session. A signed-in user's sessions
all live in the bucket derived from the user id, next to the user's index, so that creating, evicting and revoking
a user's sessions are single-slot atomic scripts. Anonymous sessions get a random bucket.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sessionhub.errors import SessionNotFound

BUCKETS = 256
"""How many hash-tag buckets the keyspace is split into (two hex characters)."""

TOKEN_LENGTH = 45
SESSION_ID_LENGTH = 34

_TOKEN_PATTERN = re.compile(r"[0-9a-f]{2}[A-Za-z0-9_-]{43}")
_SESSION_ID_PATTERN = re.compile(r"[0-9a-f]{34}")


def bucket_for_user(user_id: str) -> str:
    """The bucket holding every session of `user_id` (and the user's index)."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:2]


def random_bucket() -> str:
    """A bucket for a session with no user yet."""
    return secrets.token_hex(1)


def all_buckets() -> list[str]:
    return [f"{number:02x}" for number in range(BUCKETS)]


def new_token(bucket: str) -> str:
    """A fresh token in `bucket`: 256 bits from the operating system's CSPRNG."""
    return bucket + secrets.token_urlsafe(32)


def session_id_for(token: object) -> str | None:
    """The session id of a well-formed token, or None for anything else (wrong type, length or alphabet).

    Checking the shape first means malformed cookies never reach the store.
    """
    if not isinstance(token, str) or len(token) != TOKEN_LENGTH or not _TOKEN_PATTERN.fullmatch(token):
        return None
    return token[:2] + hashlib.sha256(token.encode("ascii")).hexdigest()[:32]


def is_session_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == SESSION_ID_LENGTH and bool(_SESSION_ID_PATTERN.fullmatch(value))


def bucket_of(session_id: str) -> str:
    return session_id[:2]


def session_id_or_not_found(token: str | None, action: str) -> str:
    """The session id of a token, or SessionNotFound saying that `action` needs a well-formed one."""
    session_id = session_id_for(token)
    if session_id is None:
        raise SessionNotFound(f"cannot {action}: the token is malformed")
    return session_id
