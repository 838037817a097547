"""The exceptions sessionhub raises. Catch `SessionHubError` to catch them all.

Messages name session ids (public handles) at most, never tokens or stored values.
"""


class SessionHubError(Exception):
    """Base class of every error raised by sessionhub."""


class ConfigurationError(SessionHubError, ValueError):
    """A setting is missing or invalid; raised at start-up, naming the environment variable."""


class SessionDataError(SessionHubError, ValueError):
    """Session data (or an argument such as a user id) cannot be stored; nothing was written."""


class SessionLimitExceeded(SessionHubError):
    """The user already has `max_sessions_per_user` sessions and the policy is `reject`; nothing was written."""


class SessionNotFound(SessionHubError):
    """The session expired or was deleted, revoked or rotated; the operation changed nothing.

    A slow request that saves after a logout gets this error instead of bringing the session back.
    """


class BackendUnavailable(SessionHubError):
    """The session store could not be reached or did not answer in time."""


class TokenThrottled(SessionHubError):
    """Too many unknown session tokens came from this client address lately (`token_abuse_throttle`); answer 429."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many unknown session tokens from this client; retry after {retry_after:.0f} s")
        self.retry_after = retry_after
