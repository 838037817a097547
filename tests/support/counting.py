"""Counting round trips to a real Redis, for tests that bound them (counted, never timed)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Connection


class CountingConnection(Connection):
    """Counts what is sent to Redis: each send is one round trip (a pipeline sends once)."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)
