"""Types of the manager fixtures, and the store under a manager with every capability."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sessionhub import SessionManager
from sessionhub.backends import SessionBackend
from sessionhub.sync import SyncSessionManager

MakeBackend = Callable[[], SessionBackend]
MakeManager = Callable[..., Awaitable[SessionManager]]
MakeSync = Callable[..., SyncSessionManager]


def store_of(manager: SessionManager) -> SessionBackend:
    """The manager's store, as one of sessionhub's backends (which have every capability)."""
    assert isinstance(manager.backend, SessionBackend)
    return manager.backend
