"""Session records kept in process memory between reads, for as long as Redis promises to say when they change.

A read-only request needs nothing from Redis that it read a moment ago, unless the session changed since: another
process logged it out, saved to it, rotated it, or Redis expired or evicted it. Redis's server-assisted client-side
caching tells us exactly that. One connection per cache turns on `CLIENT TRACKING ... BCAST PREFIX <key prefix>`
with its invalidation messages redirected to itself, and subscribes to them: Redis then names every key under the
prefix that any client writes, expires, evicts or flushes (a flush names none: everything goes).

Correctness rests on four rules:
- No tracking, no cache: entries are served only while that connection is up. When it drops (Redis restarted or
  unreachable, output buffer limit hit) everything cached is forgotten, and caching resumes once tracking is on
  again; a watchdog PING drops a connection that stops answering.
- A read that was in flight when its key was invalidated is not cached (`begin` / `complete`): Redis may have sent
  the invalidation after the reply, but it can reach us first, since it travels on another connection.
- Our own writes evict their keys before they are sent (`invalidate`), so a process reads its own writes at once,
  without waiting for Redis's message.
- An entry is a session record as the store last returned it; the caller still judges it by its clock (liveness,
  whether its idle deadline is due to slide), so a cached entry never outlives its deadlines.

What this does not cover, and docs/outages.md says: a write by another process becomes visible here when its
invalidation message arrives (on loopback, well under a millisecond), not at the instant of the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import RedisError

from sessionhub.backends.redis.connect import RedisClient
from sessionhub.model import SessionRecord

logger = logging.getLogger("sessionhub")

INVALIDATION_CHANNEL = b"__redis__:invalidate"

# How long the tracking connection may stay silent before a PING checks it, and how long that PING may go unanswered
# before the connection is given up (and the cache emptied).
PING_INTERVAL = 1.0
PING_TIMEOUT = 2.0
# Reconnection attempts back off from the first to the last delay, doubling.
RECONNECT_DELAYS = (0.05, 2.0)


@dataclasses.dataclass(slots=True, eq=False)
class PendingRead:
    """A read of `key` sent to Redis; its answer may be cached only if nothing invalidated the key meanwhile."""

    key: str
    generation: int
    invalidated: bool = False


class TrackedCache:
    """An LRU of session records (by Redis key), valid while a tracking connection reports every change to them.

    `connect` makes the tracking connection (a new, unconnected redis-py connection to the same server, RESP2).
    """

    def __init__(self, connect: Callable[[], AbstractConnection], prefix: str, max_entries: int) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self._connect = connect
        self._prefix = prefix
        self.max_entries = max_entries
        self._entries: OrderedDict[str, SessionRecord] = OrderedDict()
        self._pending: dict[str, list[PendingRead]] = {}
        # Bumped whenever tracking stops: a read begun under an older generation may have missed an invalidation.
        self._generation = 0
        # The tracking connection while tracking is on (it is subscribed), else None.
        self._connection: AbstractConnection | None = None
        # One entry per PING sent and not yet answered, oldest first: its time, and the future of a `sync` caller.
        self._pings: deque[tuple[float, asyncio.Future[None] | None]] = deque()
        self._listener: asyncio.Task[None] | None = None
        self._last_heard = 0.0
        self._first_attempt = asyncio.Event()
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        self.resets = 0

    @property
    def tracking(self) -> bool:
        return self._connection is not None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self, wait: float) -> None:
        """Start listening; wait up to `wait` seconds for tracking to be on (it keeps trying in the background)."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="sessionhub-redis-cache-invalidations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), wait)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self._stop_tracking()

    async def sync(self) -> None:
        """Return once every invalidation Redis sent before this call has been applied (a PING's answer comes after
        them on the same connection). Without tracking there is nothing cached, and nothing to wait for."""
        connection = self._connection
        if connection is None:
            return
        answered = asyncio.get_running_loop().create_future()
        await self._ping(connection, answered)
        with contextlib.suppress(ConnectionError):  # the connection dropped: the cache is empty, as wanted
            await answered

    # -- reads and writes -----------------------------------------------------------------------------------------

    def fresh(self, key: str, now: int, touch_interval: int, *, count_miss: bool = True) -> SessionRecord | None:
        """A copy of the cached record (callers may change what they get) if it may serve a read at `now`: live, and
        not due to slide its idle deadline (a read that is due must write, so it goes to Redis). Else None.
        `count_miss=False` for a look that a read will follow on a miss (which counts it)."""
        record = self._entries.get(key)
        if record is None or not record.is_live(now) or record.touch_due(now, touch_interval):
            self.misses += count_miss
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:  # invalidated meanwhile by the loop's thread (this one is the sync API's)
            return None
        self.hits += 1  # from two threads an increment may be lost: these are statistics
        return record.copy()

    def begin(self, key: str) -> PendingRead | None:
        """Note a read about to be sent; None when its answer could not be cached anyway (tracking is off)."""
        if self._connection is None:
            return None
        read = PendingRead(key, self._generation)
        self._pending.setdefault(key, []).append(read)
        return read

    def complete(self, read: PendingRead, record: SessionRecord | None) -> None:
        """The read's answer arrived (or failed: `record` None). Cache it if its key was not invalidated meanwhile."""
        reads = self._pending.get(read.key)
        if reads is not None:
            reads.remove(read)
            if not reads:
                del self._pending[read.key]
        if record is None or read.invalidated or read.generation != self._generation or not self.tracking:
            return
        self._entries[read.key] = record.copy()
        self._entries.move_to_end(read.key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, keys: Iterable[str]) -> None:
        for key in keys:
            if self._entries.pop(key, None) is not None:
                self.invalidations += 1
            for read in self._pending.get(key, ()):
                read.invalidated = True

    def clear(self) -> None:
        self._entries.clear()
        for reads in self._pending.values():
            for read in reads:
                read.invalidated = True

    def stats(self) -> dict[str, Any]:
        return {
            "tracking": self.tracking,
            "entries": len(self._entries),
            "max_entries": self.max_entries,
            "hits": self.hits,
            "misses": self.misses,
            "invalidations": self.invalidations,
            "resets": self.resets,
        }

    # -- the tracking connection ------------------------------------------------------------------------------------

    async def _listen(self) -> None:
        delay = RECONNECT_DELAYS[0]
        while True:
            connection = self._connect()
            watchdog: asyncio.Task[None] | None = None
            try:
                await self._track(connection)
                self._first_attempt.set()
                delay = RECONNECT_DELAYS[0]
                watchdog = asyncio.create_task(self._watch(connection), name="sessionhub-redis-cache-watchdog")
                while True:
                    self._handle(await connection.read_response())
            except (RedisError, OSError) as exc:
                if self.tracking:
                    logger.warning(
                        "Redis client cache emptied, its tracking connection failed: %s",
                        exc,
                        extra={"event": "client_cache_emptied", "error": type(exc).__name__},
                    )
            finally:
                self._first_attempt.set()
                self._stop_tracking()
                if watchdog is not None:
                    watchdog.cancel()
                await connection.disconnect()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAYS[1])

    async def _track(self, connection: AbstractConnection) -> None:
        await connection.connect()  # type: ignore[no-untyped-call]
        await connection.send_command("CLIENT", "ID")
        client_id = await connection.read_response()
        # BCAST: told about every key under the prefix, whether or not this connection read it (the reads go through
        # other connections). Redirected to this same connection, which listens on the invalidation channel.
        await connection.send_command(
            "CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", self._prefix
        )
        await connection.read_response()
        await connection.send_command("SUBSCRIBE", INVALIDATION_CHANNEL)
        await connection.read_response()
        self._connection = connection

    async def _watch(self, connection: AbstractConnection) -> None:
        """PING when the connection has been quiet; drop it when a PING goes unanswered for PING_TIMEOUT."""
        while True:
            await asyncio.sleep(PING_INTERVAL)
            now = time.monotonic()
            if self._pings and now - self._pings[0][0] > PING_TIMEOUT:
                logger.warning(
                    "Redis client cache emptied, its tracking connection stopped answering",
                    extra={"event": "client_cache_emptied"},
                )
                self._stop_tracking()
                await connection.disconnect(nowait=True)
                return
            if not self._pings and now - self._last_heard >= PING_INTERVAL:
                await self._ping(connection, None)

    async def _ping(self, connection: AbstractConnection, answered: asyncio.Future[None] | None) -> None:
        self._pings.append((time.monotonic(), answered))
        await connection.send_command("PING")

    def _handle(self, message: Any) -> None:
        self._last_heard = time.monotonic()
        kind = message[0]
        if kind == b"message" and message[1] == INVALIDATION_CHANNEL:
            keys = message[2]
            if keys is None:  # FLUSHALL / FLUSHDB
                self.clear()
            else:
                self.invalidate(key.decode() for key in keys)
        elif kind == b"pong" and self._pings:
            _, answered = self._pings.popleft()
            if answered is not None and not answered.done():
                answered.set_result(None)

    def _stop_tracking(self) -> None:
        if self.tracking:
            self.resets += 1
        self._connection = None
        self._generation += 1
        self.clear()
        while self._pings:
            _, answered = self._pings.popleft()
            if answered is not None and not answered.done():
                answered.set_exception(ConnectionError("tracking connection closed"))


def tracked_cache_for(client: RedisClient, prefix: str, max_entries: int) -> TrackedCache | None:
    """A client-side cache for a single server's client; None when off, or on a cluster or behind Sentinel (where a
    tracking connection would have to follow slots or failovers)."""
    if max_entries == 0 or isinstance(client, RedisCluster):
        return None
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        return None
    # A plain connection of the pool's transport (TCP, TLS or Unix socket), not the pool's class: the tracking
    # connection speaks RESP2 pub/sub and must not count as one of the pool's.
    transport: type[AbstractConnection] = Connection
    for kind in (SSLConnection, UnixDomainSocketConnection):
        if issubclass(pool.connection_class, kind):
            transport = kind
    # No read timeout: the connection waits for invalidations as long as there are none, and the cache's watchdog
    # is what gives up on a silent server (a per-call timeout such as ResilientBackend's would drop it when idle).
    options = {**pool.connection_kwargs, "protocol": 2, "health_check_interval": 0, "socket_timeout": None}
    return TrackedCache(lambda: transport(**options), prefix, max_entries)
