"""What a failure of redis-py means for the caller: the store is unavailable (BackendUnavailable, which the
resilient layer rides out) or the user's limit refused a session. Messages name no key, value or URL."""

from __future__ import annotations

from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sessionhub.errors import BackendUnavailable

LIMIT_REFUSED = "SESSIONHUB_LIMIT"
"""The error create.lua and login.lua reply with when the user's limit refuses a session (limit_refused())."""

FAILURES = (RedisError, RedisClusterException)
"""What redis-py raises when Redis cannot serve a command; cluster routing failures are not RedisErrors."""

# Replies that say Redis cannot take a command now (a failover, a full memory, a primary short of replicas under
# min-replicas-to-write, a script on a slot being migrated to another node), rather than that the command is wrong:
# the store is unavailable, for the caller to ride out.
_REFUSED_NOW = (ClusterDownError, OutOfMemoryError, ReadOnlyError, TryAgainError)
_REFUSED_NOW_CODES = ("NOREPLICAS", "BUSY", "Script attempted to access a non local key")


def unavailable(exc: RedisError | RedisClusterException) -> BackendUnavailable:
    if isinstance(exc, RedisTimeoutError):
        return BackendUnavailable("redis did not answer in time")
    if isinstance(exc, RedisConnectionError):
        return BackendUnavailable("redis cannot be reached")
    if refused_now(exc):
        reason = str(exc).split(":", 1)[0][:80] if type(exc) is ResponseError else type(exc).__name__
        return BackendUnavailable(f"redis cannot serve the command now ({reason})")
    return BackendUnavailable(f"redis failed: {type(exc).__name__}")


def refused_now(exc: Exception) -> bool:
    return isinstance(exc, _REFUSED_NOW) or (isinstance(exc, ResponseError) and str(exc).startswith(_REFUSED_NOW_CODES))
