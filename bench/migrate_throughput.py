"""Sessions per second migrated between two local redis-servers, against a raw copy measured in the same run.

    python bench/migrate_throughput.py [--sessions 100000] [--rounds 3] [--batch-size 500]

The legacy store (the seeds' layout: JSON records and user indexes) and sessionhub each have a redis-server of
their own on loopback, as in a real migration. Each round runs every contender once, in turn (rounds interleaved,
so that a slow moment of the shared machine hits all of them), from an empty target:
- floor: a pipelined SCAN + GET/PTTL + SET copy of the raw bytes, no decoding or checking: nothing that moves the
  same keys can be much faster;
- sessionhub migrate: `Migrator.run` (read with digests, decode, validate, import with aliases and markers);
- sessionhub re-sync: the same pass again over an unchanged source (what each `--follow` pass costs);
- sessionhub verify: `Migrator.verify`, reported on its own (the CLI runs it after migrating);
- one by one: what an ad-hoc script does, GET and PTTL then `SessionManager.create` for each session, on the first
  --one-by-one sessions only (it is slow).
Reported: the median rate over the rounds with its min-max, its ratio to the floor's median, and this process's
CPU microseconds per session (the redis-servers' CPU is theirs). The goal: a migration of at least 20,000 sessions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_servers import RedisServer

from sessionhub import SessionManager, Settings
from sessionhub.backends.redis import RedisBackend
from sessionhub.migrate import MemoryImportLedger, Migrator, SeedsSource

SEED_BATCH = 1000
GOAL = 20_000
"""Sessions per second a migration should reach on the development machine (issue 14)."""


@dataclass
class Contender:
    name: str
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


async def seed(legacy: Redis, sessions: int) -> None:
    for start in range(0, sessions, SEED_BATCH):
        async with legacy.pipeline(transaction=False) as pipe:
            for number in range(start, min(start + SEED_BATCH, sessions)):
                session_id = secrets.token_urlsafe(24)
                user = f"user{number % (sessions // 3 + 1)}"
                record = {
                    "session_id": session_id,
                    "user_id": user,
                    "created_at": "2026-11-20T09:00:00",
                    "last_accessed": "2026-11-23T08:00:00",
                    "ip_address": "192.0.2.1",
                    "user_agent": "Mozilla/5.0 (bench)",
                    "data": {"cart": ["a", "b"], "theme": "dark", "visits": number},
                }
                pipe.set(f"session:{session_id}", orjson.dumps(record), ex=86_400)
                pipe.sadd(f"user_sessions:{user}", session_id)
            await pipe.execute()


async def _scan_batches(client: Redis, batch_size: int) -> AsyncIterator[list[bytes]]:
    cursor = None
    while cursor != 0:
        cursor, keys = await client.scan(cursor or 0, match="session:*", count=batch_size)
        if keys:
            yield keys


async def raw_copy(legacy: Redis, target: Redis, batch_size: int) -> int:
    copied = 0
    async for keys in _scan_batches(legacy, batch_size):
        async with legacy.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            replies = await pipe.execute()
        async with target.pipeline(transaction=False) as pipe:
            for key, value, ttl in zip(keys, replies[0::2], replies[1::2], strict=True):
                pipe.set(b"copy:" + key, value, px=ttl)
            await pipe.execute()
        copied += len(keys)
    return copied


async def one_by_one(legacy: Redis, manager: SessionManager, limit: int) -> int:
    created = 0
    async for key in legacy.scan_iter(match="session:*", count=500):
        record = orjson.loads(await legacy.get(key))
        await legacy.pttl(key)
        await manager.create(user_id=record["user_id"], data=record["data"])
        created += 1
        if created >= limit:
            break
    return created


async def timed(contender: Contender, run: Callable[[], Awaitable[int]]) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    moved = await run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    contender.rates.append(moved / wall)
    contender.cpu_us.append(cpu / moved * 1e6)


async def bench(sessions: int, rounds: int, batch_size: int, one_by_one_sessions: int) -> list[Contender]:
    legacy_server, target_server = RedisServer.start(), RedisServer.start()
    try:
        legacy = Redis.from_url(legacy_server.url)
        target = Redis.from_url(target_server.url)
        await seed(legacy, sessions)
        contenders = {
            name: Contender(name)
            for name in (
                "floor: raw pipelined copy",
                f"sessionhub migrate, batch {batch_size}",
                "sessionhub re-sync (source unchanged)",
                "sessionhub verify",
                "one by one (GET + create)",
            )
        }
        floor, migrate, resync, verify, slow = contenders.values()
        async with SessionManager(RedisBackend(target), Settings(redis_url=target_server.url)) as manager:
            for _ in range(rounds):
                await target.flushdb()
                await timed(floor, lambda: raw_copy(legacy, target, batch_size))
                await target.flushdb()
                migrator = Migrator(SeedsSource(), legacy, manager, ledger=MemoryImportLedger(), batch_size=batch_size)

                async def migrate_all(migrator: Migrator = migrator) -> int:
                    report = await migrator.run()
                    assert report.migrated == sessions, report
                    return report.scanned

                async def resync_all(migrator: Migrator = migrator) -> int:
                    report = await migrator.run()
                    assert report.already_migrated == sessions, report
                    return report.scanned

                async def verify_all(migrator: Migrator = migrator) -> int:
                    report = await migrator.verify()
                    assert report.ok, report
                    return report.source_sessions

                await timed(migrate, migrate_all)
                await timed(resync, resync_all)
                await timed(verify, verify_all)
                await target.flushdb()
                await timed(slow, lambda: one_by_one(legacy, manager, one_by_one_sessions))
        await legacy.aclose()
        await target.aclose()
        return list(contenders.values())
    finally:
        legacy_server.stop()
        target_server.stop()


def main(argv: list[str] | None = None) -> list[Contender]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--one-by-one", type=int, default=5_000, help="sessions the one-by-one contender moves")
    args = parser.parse_args(argv)
    if min(args.sessions, args.rounds, args.batch_size, args.one_by_one) < 1:
        parser.error("every count must be positive")
    results = asyncio.run(bench(args.sessions, args.rounds, args.batch_size, min(args.one_by_one, args.sessions)))
    floor = results[0].median
    table = Table(
        title=f"{args.sessions:,} seeds sessions between two local redis-servers, {args.rounds} rounds interleaved"
    )
    for column in ("contender", "sessions/s (median)", "min-max", "vs floor", "CPU µs/session"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for contender in results:
        table.add_row(
            contender.name,
            f"{contender.median:,.0f}",
            f"{min(contender.rates):,.0f}-{max(contender.rates):,.0f}",
            f"{contender.median / floor:.2f}x",
            f"{statistics.median(contender.cpu_us):.1f}",
        )
    console = Console(width=120)
    console.print(table)
    rate = results[1].median
    console.print(f"goal: migrate >= {GOAL:,} sessions/s: {rate:,.0f}/s, {'met' if rate >= GOAL else 'not met'}")
    return results


if __name__ == "__main__":
    main()
