"""sessionhub: one canonical session manager for Python web applications."""

from sessionhub.conversation import DemoStatus, Message
from sessionhub.errors import (
    BackendUnavailable,
    ConfigurationError,
    SessionDataError,
    SessionHubError,
    SessionLimitExceeded,
    SessionNotFound,
)
from sessionhub.manager import SessionManager
from sessionhub.model import ClientInfo, Session
from sessionhub.settings import Settings

__all__ = [
    "BackendUnavailable",
    "ClientInfo",
    "ConfigurationError",
    "DemoStatus",
    "Message",
    "Session",
    "SessionDataError",
    "SessionHubError",
    "SessionLimitExceeded",
    "SessionManager",
    "SessionNotFound",
    "Settings",
]

__version__ = "0.1.0"
