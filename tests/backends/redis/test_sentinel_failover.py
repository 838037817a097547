"""A Sentinel failover in the middle of a workload: what the documented guarantee allows to be lost, and no more.

The guarantee (docs/operations.md, "Cluster and Sentinel"): Redis replicates asynchronously and sessionhub does not
WAIT for replicas, so a failover may lose writes that the old primary acknowledged but had not yet passed on to the
replica it was replaced by: writes acknowledged after the last one known to be replicated and started before the
backend moved to the new primary (within a second or two of the switch), or before Sentinel demoted the old one if
that comes first. Everything else survives, and the backend follows the new primary by itself.

The test marks the cut-off with WAIT on the old primary right before the failover: every write acknowledged before
that marker was sent is on the replica. It then checks every acknowledged write after the failover and counts the
losses inside the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import pytest
import redis

from sessionhub import BackendUnavailable, SessionManager, SessionNotFound, Settings
from sessionhub.backends import RedisBackend, ResilientBackend, SessionBackend
from sessionhub.backends.redis import PRIMARY_CHECK_INTERVAL
from tests.support.deployments import sentinel_url
from tests.support.redis_servers import RedisSentinelGroup

pytestmark = pytest.mark.slow

WORKERS = 8
BEFORE = 300  # acknowledged writes before the failover starts
AFTER = 300  # acknowledged writes started after the old primary was demoted
TIME_LIMIT = 60.0


@dataclass
class Ack:
    started: float
    finished: float


@dataclass
class Written:
    """One session of the workload: its creation, and the save that followed it, when acknowledged."""

    token: str
    created: Ack
    saved: Ack | None = None


@dataclass
class Workload:
    """Workers that create a session and save a change to it, over and over, through one SessionManager."""

    manager: SessionManager
    written: list[Written] = field(default_factory=list)
    acks: int = 0
    failures: int = 0
    demoted_at: float | None = None
    acks_after_demotion: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def worker(self, number: int) -> None:
        while not self.done.is_set():
            try:
                started = time.monotonic()
                session = await self.manager.create(data={"worker": number})
                entry = Written(str(session.token), self._ack(started))
                self.written.append(entry)
                session.data["saved"] = True
                started = time.monotonic()
                await self.manager.save(session)
                entry.saved = self._ack(started)
            except (BackendUnavailable, SessionNotFound):
                # Not acknowledged: the failover is under way (SessionNotFound: the create was lost already).
                self.failures += 1
                await asyncio.sleep(0.01)

    def _ack(self, started: float) -> Ack:
        self.acks += 1
        if self.demoted_at is not None and started > self.demoted_at:
            self.acks_after_demotion += 1
            if self.acks_after_demotion >= AFTER:
                self.done.set()
        return Ack(started, time.monotonic())


@dataclass
class Window:
    replicated_before: float
    """Writes acknowledged before this moment were on the replica (WAIT) when the failover began."""
    promoted_at: float
    """From this moment all Sentinels name the new primary, and it takes writes."""
    demoted_at: float
    """From this moment the old primary is a replica and refuses writes."""

    def may_lose(self, ack: Ack) -> bool:
        # The backend leaves the old primary within PRIMARY_CHECK_INTERVAL of the switch (plus a margin for a busy
        # machine), long before Sentinel demotes it; without that the window would last until the demotion.
        moved_by = self.promoted_at + 2 * PRIMARY_CHECK_INTERVAL + 3.0
        return ack.finished > self.replicated_before and ack.started < min(self.demoted_at, moved_by)


def fail_over(group: RedisSentinelGroup, workload: Workload) -> Window:
    """Runs in a thread beside the workload: mark what is replicated, fail over, wait for the old primary's demotion."""
    deadline = time.monotonic() + TIME_LIMIT
    while workload.acks < BEFORE:
        assert time.monotonic() < deadline, "the workload did not get going"
        time.sleep(0.01)
    old = group.server_at(group.current_primary())
    with old.client() as client:
        replicated_before = time.monotonic()
        client.set("failover-test:marker", 1)
        assert client.wait(1, 5000) == 1, "the replica did not catch up before the failover"
    group.failover()
    promoted_at = time.monotonic()
    while True:
        # Sentinel disconnects the old primary's clients as it demotes it: this probe may be one of them.
        with old.client() as client, contextlib.suppress(redis.ConnectionError):
            if client.info("replication")["role"] == "slave":
                break
        assert time.monotonic() < deadline, "the old primary was never demoted"
        time.sleep(0.01)
    workload.demoted_at = time.monotonic()
    return Window(replicated_before, promoted_at, workload.demoted_at)


@pytest.mark.parametrize(
    ("min_replicas", "resilient"),
    [(0, False), (1, False), (0, True)],
    ids=["async-replication", "min-replicas-to-write", "through-ResilientBackend"],
)
async def test_failover_during_a_workload_loses_only_unreplicated_writes(
    key_prefix: str, min_replicas: int, resilient: bool
) -> None:
    """`min-replicas-to-write 1` (docs/operations.md) makes the replaced primary refuse writes once its replica left,
    and the new one until the old one has resynced as its replica: fewer losses, more refusals. Through
    ResilientBackend the refusals are served from memory and replayed into the new primary; what the old primary
    acknowledged and lost stays lost. Whatever served the workload, the check reads Redis itself afterwards."""
    group = RedisSentinelGroup.start(service_name="failover")
    try:
        for server in (group.primary, group.replica):
            with server.client() as client:
                client.config_set("min-replicas-to-write", min_replicas)
                client.config_set("min-replicas-max-lag", 10)
        url = sentinel_url(group)
        backend: SessionBackend = RedisBackend.from_url(
            url, key_prefix=key_prefix, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        if resilient:
            backend = ResilientBackend(backend)
        async with SessionManager(backend, Settings(key_prefix=key_prefix)) as manager:
            workload = Workload(manager)
            workers = [asyncio.create_task(workload.worker(number)) for number in range(WORKERS)]
            try:
                window = await asyncio.to_thread(fail_over, group, workload)
                await asyncio.wait_for(workload.done.wait(), TIME_LIMIT)
            finally:
                workload.done.set()
                await asyncio.gather(*workers)
            if isinstance(backend, ResilientBackend):  # what memory served is replayed into Redis before the check
                await recovered(backend)
        async with SessionManager(RedisBackend.from_url(url, key_prefix=key_prefix)) as redis_only:
            lost_creates, lost_saves, beyond_guarantee = await check(redis_only, workload.written, window)
    finally:
        group.stop()

    print(
        f"\nfailover, min-replicas-to-write {min_replicas}{', through ResilientBackend' if resilient else ''}: "
        f"{workload.acks} writes acknowledged, {workload.failures} refused during the switch; lost within the "
        f"window: {lost_creates} creates, {lost_saves} saves "
        f"(window {1000 * (window.demoted_at - window.replicated_before):.0f} ms)"
    )
    assert beyond_guarantee == []
    assert workload.acks_after_demotion >= AFTER  # the backend found the new primary by itself


async def recovered(backend: ResilientBackend) -> None:
    """Until ResilientBackend has replayed into Redis what memory served; a probe may fail while the switch settles."""
    deadline = time.monotonic() + TIME_LIMIT
    while not await backend.recover():
        assert time.monotonic() < deadline, f"ResilientBackend never recovered: {backend.last_error}"
        await asyncio.sleep(backend.call_timeout)


async def check(manager: SessionManager, written: list[Written], window: Window) -> tuple[int, int, list[str]]:
    lost_creates = lost_saves = 0
    beyond: list[str] = []
    for entry in written:
        stored = await manager.get(entry.token)
        if stored is None:
            lost_creates += 1
            if not window.may_lose(entry.created):
                beyond.append(f"create acknowledged outside the window: {entry.created}")
        elif entry.saved is not None and stored.data.get("saved") is not True:
            lost_saves += 1
            if not window.may_lose(entry.saved):
                beyond.append(f"save acknowledged outside the window: {entry.saved}")
    return lost_creates, lost_saves, beyond
