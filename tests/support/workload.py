"""A concurrent session workload that knows what every answer must be, for fault tests and `scripts/chaos`.

Each simulated client is one browser: it creates, reads, saves, rotates, signs in, logs out and revokes only its own
sessions, one request at a time, so the answer to every request is known exactly. Clients run concurrently on one
manager while an `Outage` takes the real redis-server down (kill -9, SIGSTOP, restart empty) and brings it back.

Counted, as the issue asks: errors returned to callers (an exception, or a wrong answer such as a signed-out user or
stale data), writes lost after recovery, sessions resurrected after recovery, and how the outage was paid for
(operations served by memory, calls that waited for the failing Redis, probes).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sessionhub import BackendUnavailable, Session, SessionManager
from sessionhub.backends import ResilientBackend
from sessionhub.tokens import session_id_for
from tests.support.redis_servers import RedisServer
from tests.support.waiting import wait_until

RETRY_AFTER = 0.05
"""Seconds a client waits before asking again for a session that could not be confirmed (scaled down)."""

MAX_LIVE = 4
"""Sessions one client holds at most (a browser with a few tabs and devices)."""


@dataclass
class Expected:
    """What the store must answer for one token."""

    user_id: str | None
    data: dict[str, Any]


@dataclass
class Counts:
    operations: int = 0
    during_outage: int = 0
    errors: int = 0
    unconfirmed: int = 0
    """Reads refused while the breaker was still closed (503 with Retry-After; the client asked again)."""
    lost_writes: int = 0
    resurrected: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)
    error_kinds: Counter[str] = field(default_factory=Counter)
    slowest_during_outage: float = 0.0

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] += 1


class Client:
    def __init__(self, index: int, seed: int) -> None:
        self.user_id = f"user{index}"
        self.random = random.Random(seed)
        self.live: dict[str, Expected] = {}
        self.ended: list[str] = []

    async def step(self, manager: SessionManager, counts: Counts) -> None:
        operation = self._choose()
        try:
            await getattr(self, operation)(manager, counts)
        except Exception as exc:  # every exception reaching a caller is what the test counts
            counts.error(f"{operation}: {type(exc).__name__}")
        counts.operations += 1
        counts.by_operation[operation] += 1

    def _choose(self) -> str:
        if not self.live:
            return "create"
        weights = {
            "create": 1 if len(self.live) < MAX_LIVE else 0,
            "read": 6,
            "save": 4,
            "rotate": 1,
            "login": 1,
            "logout": 1,
            "revoke": 1,
            "revoke_others": 0.3,
        }
        return self.random.choices(list(weights), list(weights.values()))[0]

    def _pick(self) -> str:
        return self.random.choice(list(self.live))

    def _end(self, token: str) -> None:
        del self.live[token]
        self.ended.append(token)

    async def _get(self, manager: SessionManager, token: str, counts: Counts) -> Session | None:
        """A read as a browser makes it: a session that cannot be confirmed (the middleware's 503 with Retry-After,
        while the breaker is still closed) is asked for again, once."""
        try:
            return await manager.get(token)
        except BackendUnavailable:
            counts.unconfirmed += 1
            await asyncio.sleep(RETRY_AFTER)
            return await manager.get(token)

    async def create(self, manager: SessionManager, counts: Counts) -> None:
        session = await manager.create(data={"n": 0})
        assert session.token is not None
        self.live[session.token] = Expected(None, {"n": 0})

    async def read(self, manager: SessionManager, counts: Counts) -> None:
        token = self._pick()
        session = await self._get(manager, token, counts)
        if session is None:
            counts.error("read: signed out")
        elif dict(session.data) != self.live[token].data:
            counts.error("read: stale data")

    async def save(self, manager: SessionManager, counts: Counts) -> None:
        token = self._pick()
        session = await self._get(manager, token, counts)
        if session is None:
            counts.error("save: signed out")
            return
        session.data["n"] = session.data.get("n", 0) + 1
        await manager.save(session)
        self.live[token].data = dict(session.data)

    async def rotate(self, manager: SessionManager, counts: Counts) -> None:
        token = self._pick()
        rotated = await manager.rotate(token)
        assert rotated.token is not None
        self.live[rotated.token] = self.live[token]
        self._end(token)

    async def login(self, manager: SessionManager, counts: Counts) -> None:
        token = self._pick()
        session = await manager.login(token, self.user_id)
        assert session.token is not None
        # Every session of this client is anonymous or its own user's, so the data always carries over.
        self.live[session.token] = Expected(self.user_id, dict(self.live[token].data))
        self._end(token)

    async def logout(self, manager: SessionManager, counts: Counts) -> None:
        token = self._pick()
        if not await manager.delete(token):
            counts.error("logout: no live session")
        self._end(token)

    async def revoke(self, manager: SessionManager, counts: Counts) -> None:
        token = self._pick()
        session_id = session_id_for(token)
        assert session_id is not None
        if not await manager.revoke(session_id):
            counts.error("revoke: no live session")
        self._end(token)

    async def revoke_others(self, manager: SessionManager, counts: Counts) -> None:
        """ "Sign out my other devices" from one of the user's sessions, if the client holds one."""
        mine = [token for token, expected in self.live.items() if expected.user_id == self.user_id]
        if not mine:
            return
        keep = self.random.choice(mine)
        keep_id = session_id_for(keep)
        others = [token for token in mine if token != keep]
        removed = await manager.revoke_user_sessions(self.user_id, except_session_id=keep_id)
        if removed != len(others):
            counts.error("revoke_others: wrong count")
        for token in others:
            self._end(token)

    async def verify(self, truth: SessionManager, counts: Counts) -> None:
        """After recovery, against the store itself: every write kept, every ended session still ended."""
        for token, expected in self.live.items():
            session = await truth.get(token)
            if session is None or dict(session.data) != expected.data or session.user_id != expected.user_id:
                counts.lost_writes += 1
        for token in self.ended:
            if await truth.get(token) is not None:
                counts.resurrected += 1
        live_ids = {session_id_for(token) for token in self.live}
        listed = {session.id for session in await truth.list_user_sessions(self.user_id)}
        counts.resurrected += len(listed - live_ids)


@dataclass
class Outage:
    """One fault on a real redis-server: `kill` (kill -9, restarted with its data), `hang` (SIGSTOP, then SIGCONT)
    or `restart-empty` (kill -9, restarted without its data)."""

    fault: str
    server: RedisServer

    FAULTS = ("kill", "hang", "restart-empty")

    async def begin(self) -> None:
        if self.fault == "hang":
            await asyncio.to_thread(self.server.pause)
        else:
            await asyncio.to_thread(self.server.kill)

    async def end(self) -> None:
        if self.fault == "hang":
            await asyncio.to_thread(self.server.resume)
        else:
            await asyncio.to_thread(self.server.restart)


Until = Callable[[Callable[[], bool], str], Awaitable[None]]


async def _drive(
    manager: SessionManager,
    scenario: Callable[[Counts, Until], Awaitable[None]],
    in_fault: Callable[[], bool],
    *,
    clients: int,
    seed: int,
    time_limit: float,
    truth: Callable[[], SessionManager],
) -> Counts:
    """Run the clients while `scenario` plays out (it waits with `until`, bounded by `time_limit`), counting the
    operations that started `in_fault()`; then verify every client against `truth()` (a manager on Redis alone)."""
    counts = Counts()
    population = [Client(index, seed * 1000 + index) for index in range(clients)]
    stop = asyncio.Event()
    deadline = time.monotonic() + time_limit

    async def run(client: Client) -> None:
        while not stop.is_set():
            faulty = in_fault()
            started = time.perf_counter()
            await client.step(manager, counts)
            if faulty:
                counts.during_outage += 1
                counts.slowest_during_outage = max(counts.slowest_during_outage, time.perf_counter() - started)
            await asyncio.sleep(0)

    async def until(condition: Callable[[], bool], what: str) -> None:
        await wait_until(condition, f"workload: {what} (within {time_limit:g} s)", deadline=deadline)

    tasks = [asyncio.create_task(run(client)) for client in population]
    try:
        await asyncio.wait_for(scenario(counts, until), timeout=time_limit)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    async with truth() as store:
        for client in population:
            await client.verify(store, counts)
    return counts


async def run_through(
    manager: SessionManager,
    fault: Callable[[], Awaitable[None]],
    *,
    clients: int,
    operations_before: int,
    operations_after: int,
    seed: int = 1,
    time_limit: float = 60.0,
    truth: Callable[[], SessionManager],
) -> Counts:
    """Run the workload while `fault()` runs (a reshard, a failover: whatever it does, it returns when done), then
    `operations_after` more. Any backend: the fallback may or may not take over."""
    faulting = False

    async def scenario(counts: Counts, until: Until) -> None:
        nonlocal faulting
        await until(lambda: counts.operations >= operations_before, "operations before the fault")
        faulting = True
        try:
            await fault()
        finally:
            faulting = False
        after = counts.operations
        await until(lambda: counts.operations >= after + operations_after, "operations after the fault")
        backend = manager.backend
        if isinstance(backend, ResilientBackend):
            await until(lambda: backend.breaker.is_closed, "recovery")

    return await _drive(
        manager, scenario, lambda: faulting, clients=clients, seed=seed, time_limit=time_limit, truth=truth
    )


async def run_outage(
    manager: SessionManager,
    outage: Outage,
    *,
    clients: int,
    operations_before: int,
    operations_during: int,
    operations_after: int,
    seed: int = 1,
    time_limit: float = 60.0,
    truth: Callable[[], SessionManager],
) -> Counts:
    """Run the workload through one outage and recovery, counting as "during" what the fallback served."""
    backend = manager.backend
    assert isinstance(backend, ResilientBackend)

    async def scenario(counts: Counts, until: Until) -> None:
        await until(lambda: counts.operations >= operations_before, "operations before the outage")
        await outage.begin()
        await until(lambda: not backend.breaker.is_closed, "the breaker opening")
        served = counts.during_outage
        await until(lambda: counts.during_outage >= served + operations_during, "operations during the outage")
        await outage.end()
        await until(lambda: backend.breaker.is_closed, "recovery")
        after = counts.operations
        await until(lambda: counts.operations >= after + operations_after, "operations after recovery")

    return await _drive(
        manager,
        scenario,
        lambda: not backend.breaker.is_closed,
        clients=clients,
        seed=seed,
        time_limit=time_limit,
        truth=truth,
    )
