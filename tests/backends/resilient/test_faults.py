"""Redis dies, hangs or comes back empty under a concurrent workload; the users notice nothing.

Real time runs here (the breaker probes every 50-400 ms), but every wait is for a condition, bounded, and the
assertions are counts: zero errors returned to callers, zero lost writes, zero resurrected sessions, and the outage
paid for by at most one failed call per concurrent request when the breaker opened, then by probes alone.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from sessionhub import SessionDataError, SessionManager, Settings
from sessionhub.backends import RedisBackend, ResilientBackend
from sessionhub.backends.resilient.breaker import CircuitBreaker
from sessionhub.backends.resilient.journal import Restore
from sessionhub.model import DataChanges
from tests.support.redis_servers import ConnectionKiller, RedisServer
from tests.support.workload import Outage, run_outage, run_through

CLIENTS = 8
CALL_TIMEOUT = 0.2
THRESHOLD = 3


@pytest.mark.parametrize("fault", Outage.FAULTS)
async def test_an_outage_under_load_costs_the_users_nothing(fault: str, key_prefix: str) -> None:
    settings = Settings(key_prefix=key_prefix, session_ttl=600, absolute_ttl=3600)
    with RedisServer.start(persistence=fault != "restart-empty") as server:
        primary = RedisBackend.from_url(
            server.url, key_prefix=key_prefix, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT
        )
        breaker = CircuitBreaker(threshold=THRESHOLD, first_backoff=0.05, max_backoff=0.4)
        backend = ResilientBackend(primary, call_timeout=CALL_TIMEOUT, breaker=breaker)
        async with SessionManager(backend, settings) as manager:
            counts = await run_outage(
                manager,
                Outage(fault, server),
                clients=CLIENTS,
                operations_before=300,
                operations_during=1500,
                operations_after=300,
                time_limit=30,
                truth=lambda: SessionManager(RedisBackend.from_url(server.url, key_prefix=key_prefix), settings),
            )
            stats = await manager.stats()

    assert counts.errors == 0, counts.error_kinds
    # Reads failing before the breaker opened were refused (never answered from the near cache), then served.
    assert counts.unconfirmed <= THRESHOLD - 1
    assert counts.lost_writes == 0
    assert counts.resurrected == 0
    assert counts.during_outage >= 1500
    assert set(counts.by_operation) >= {"create", "read", "save", "rotate", "login", "logout", "revoke"}
    # Fast during the outage: no request waits for Redis more than once, and only those in flight when it failed
    # (plus fewer than THRESHOLD reads before the breaker opened) waited at all; the rest were served from memory.
    assert stats["breaker_trips"] == 1
    assert stats["failed_calls"] <= CLIENTS + THRESHOLD - 1
    assert stats["served_by_fallback"] >= counts.during_outage - CLIENTS
    assert stats["journal_length"] == 0
    assert (stats["sessions_written_back"] > 0) is (fault == "restart-empty")


async def test_a_journal_entry_the_primary_refuses_is_quarantined_and_the_rest_replays(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry Redis refuses on replay (here data with a lone surrogate: the stores all refuse it up front, so the
    test puts it in the journal itself) used to fail every replay: the breaker never closed and `close()` dropped
    the whole journal. It is set aside, logged with its session id and counted; the rest lands."""
    settings = Settings(key_prefix=key_prefix, session_ttl=600)
    with RedisServer.start() as server:
        primary = RedisBackend.from_url(
            server.url, key_prefix=key_prefix, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT
        )
        breaker = CircuitBreaker(threshold=1, first_backoff=0.05, max_backoff=0.1)
        backend = ResilientBackend(primary, call_timeout=CALL_TIMEOUT, breaker=breaker)
        async with SessionManager(backend, settings) as manager:
            kept = [await manager.create(data={"n": 0}) for _ in range(3)]
            poisoned = await manager.create(data={"n": 0})
            server.pause()
            try:
                for session in kept:
                    session.data["n"] = 1
                    assert await manager.save(session)
                now = int(time.time() * 1000)
                with pytest.raises(SessionDataError):  # the fallback refuses it, as Redis would
                    await backend.update(poisoned.id, DataChanges(updated={"\ud800": b"1"}), now)
                record = backend.near_cache.get(poisoned.id)
                assert record is not None
                unstorable = replace(record, data={**record.data, "\ud800": b"1"}, last_active_at=now)
                backend.outage.journal.record(poisoned.id, Restore(unstorable, data_changed=True, origin=poisoned.id))
                assert backend.stats()["journal_length"] == len(kept) + 1
            finally:
                server.resume()
            assert await backend.recover()
            stats = backend.stats()
        assert stats["journal_quarantined"] == 1
        assert stats["journal_length"] == 0
        assert stats["breaker"] == "closed"
        assert any(poisoned.id in record.getMessage() for record in caplog.records if record.levelname == "ERROR")
        async with SessionManager(RedisBackend.from_url(server.url, key_prefix=key_prefix), settings) as truth:
            for session in kept:
                stored = await truth.get(session.token)
                assert stored is not None
                assert stored.data["n"] == 1
            assert await truth.get(poisoned.token) is not None  # as it was before the outage


async def test_connections_killed_every_few_milliseconds_cost_the_users_nothing(key_prefix: str) -> None:
    """Every connection killed every 5-30 ms for three seconds under the workload, through the default stack:
    resends carry most calls (each write at most once); the rest the fallback serves and replays."""
    with RedisServer.start() as server:
        settings = Settings(redis_url=server.url, key_prefix=key_prefix, session_ttl=600, absolute_ttl=3600)

        async def kill_connections() -> None:
            with ConnectionKiller(server) as killer:
                await asyncio.sleep(3)
            assert killer.killed > 100

        async with SessionManager.from_settings(settings) as manager:
            counts = await run_through(
                manager, kill_connections, clients=CLIENTS * 2, operations_before=300, operations_after=300,
                time_limit=60,
                truth=lambda: SessionManager(RedisBackend.from_url(server.url, key_prefix=key_prefix), settings),
            )  # fmt: skip
            stats = await manager.stats()
    assert counts.errors == 0, counts.error_kinds
    # A read whose every resend met a killed connection is refused, and served when asked again: rarely.
    assert counts.unconfirmed <= counts.operations // 1000
    assert counts.lost_writes == 0
    assert counts.resurrected == 0
    assert stats["resent_calls"] > 0
    assert stats["journal_length"] == 0
