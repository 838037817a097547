"""Session stores. `RedisBackend` needs the `redis` extra and is imported on first use."""

from typing import TYPE_CHECKING, Any

from sessionhub.backends.base import (
    ConversationStore,
    LegacyStore,
    Restorable,
    SecurityLog,
    SessionBackend,
    SessionStore,
    UserLimit,
)
from sessionhub.backends.memory import MemoryBackend
from sessionhub.backends.resilient import ResilientBackend

if TYPE_CHECKING:
    from sessionhub.backends.redis import RedisBackend

__all__ = [
    "ConversationStore",
    "LegacyStore",
    "MemoryBackend",
    "RedisBackend",
    "ResilientBackend",
    "Restorable",
    "SecurityLog",
    "SessionBackend",
    "SessionStore",
    "UserLimit",
]


def __getattr__(name: str) -> Any:
    if name == "RedisBackend":
        from sessionhub.backends.redis import RedisBackend

        return RedisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
