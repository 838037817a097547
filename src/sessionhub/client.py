"""The client a session is bound to: the address and user agent the application saw, bounded in size."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The client a session was created for, as the application saw it."""

    ip: str | None = None
    user_agent: str | None = None

    MAX_IP_LENGTH = 64
    MAX_USER_AGENT_LENGTH = 512

    @classmethod
    def of(cls, ip: str | None, user_agent: str | None) -> ClientInfo:
        """`ClientInfo(ip, user_agent).bounded()`, one shared object per client: the same few clients come back on
        every request, and building a frozen dataclass costs more than finding it."""
        return _shared_client(
            ip[: cls.MAX_IP_LENGTH] if ip else None,
            user_agent[: cls.MAX_USER_AGENT_LENGTH] if user_agent else None,
        )

    def bounded(self) -> ClientInfo:
        """The same client with fields cut to a size the store accepts (headers are attacker-controlled)."""
        ip, user_agent = self.ip, self.user_agent
        if (ip is None or 0 < len(ip) <= self.MAX_IP_LENGTH) and (
            user_agent is None or 0 < len(user_agent) <= self.MAX_USER_AGENT_LENGTH
        ):
            return self  # the common case, on every request: already within bounds
        return ClientInfo.of(ip, user_agent)


@lru_cache(maxsize=4096)
def _shared_client(ip: str | None, user_agent: str | None) -> ClientInfo:
    return ClientInfo(ip, user_agent)
