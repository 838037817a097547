"""sessionhub: one canonical session manager for Python web applications."""

from sessionhub.client import ClientInfo
from sessionhub.conversation import DemoStatus, Message
from sessionhub.errors import (
    BackendUnavailable,
    ConfigurationError,
    SessionDataError,
    SessionHubError,
    SessionLimitExceeded,
    SessionNotFound,
    TokenThrottled,
)
from sessionhub.events import SecurityEvent
from sessionhub.manager import SessionManager
from sessionhub.model import Session
from sessionhub.settings import Settings

__all__ = [
    "BackendUnavailable",
    "ClientInfo",
    "ConfigurationError",
    "DemoStatus",
    "Message",
    "SecurityEvent",
    "Session",
    "SessionDataError",
    "SessionHubError",
    "SessionLimitExceeded",
    "SessionManager",
    "SessionNotFound",
    "Settings",
    "TokenThrottled",
]

__version__ = "0.1.0"
