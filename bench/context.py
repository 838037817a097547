"""What every contender and suite gets: the bench's redis-server and clients whose round trips are counted."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection

from bench.redis_server import RedisServer

RELEASE_TIMEOUT_S = 2.0


@dataclass
class RoundTripCounter:
    """Counts writes of a request (or of a whole pipeline) to the server: one write, one reply awaited."""

    count: int = 0


def counting_connection_class(counter: RoundTripCounter) -> type[Connection]:
    class CountingConnection(Connection):
        async def send_packed_command(self, command: bytes | str | Iterable[bytes], check_health: bool = True) -> None:
            counter.count += 1
            await super().send_packed_command(command, check_health)

    return CountingConnection


@dataclass
class BenchContext:
    """Shared by one benchmark run.

    Contenders and suites that talk to Redis must build their clients with ``connect()`` so that their round
    trips are counted; ``admin`` is an uncounted client for the bench's own bookkeeping (flush, INFO, MEMORY).
    """

    server: RedisServer
    admin: Redis
    round_trips: RoundTripCounter = field(default_factory=RoundTripCounter)

    @classmethod
    def create(cls, server: RedisServer) -> BenchContext:
        return cls(server=server, admin=Redis(host=server.host, port=server.port))

    def connect(self, **redis_kwargs: Any) -> Redis:
        """A new client on the bench's server whose round trips are counted; the caller closes it."""
        pool = ConnectionPool(
            connection_class=counting_connection_class(self.round_trips),
            host=self.server.host,
            port=self.server.port,
            **redis_kwargs,
        )
        # from_pool: the client owns the pool, so closing the client closes every connection it opened.
        return Redis.from_pool(pool)

    async def command_calls(self) -> Counter[str]:
        """Calls per command the server has executed so far, leaving out the bench's own INFO calls and PINGs.

        PINGs are connection health checks on a timer (redis-py's, the client cache's watchdog), not work of any
        request; since every contender of a section stays open while the others run, they would land in whichever
        contender's counts happened to be measured when the timer fired."""
        stats = await self.admin.info("commandstats")
        calls: Counter[str] = Counter()
        for name, values in stats.items():
            command = name.removeprefix("cmdstat_")
            if command not in ("info", "ping"):
                calls[command] = int(values["calls"])
        return calls

    async def check_released(self, owner: str) -> None:
        """Fail if ``owner`` left connections open: idle clients hold server memory and skew later figures."""
        deadline = time.monotonic() + RELEASE_TIMEOUT_S
        while True:
            # The admin connection is the only one that should remain; the server may take a moment to
            # notice connections that were just closed.
            others = int((await self.admin.info("clients"))["connected_clients"]) - 1
            if others == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{owner} left {others} Redis connection(s) open; close clients on exit")
            await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        await self.admin.aclose()
