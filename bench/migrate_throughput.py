"""Sessions per second migrated from a local legacy Redis, against two contenders measured in the same run.

    python bench/migrate_throughput.py [--sessions 20000] [--batch-sizes 100,500,2000]

Contenders, all on one redis-server of their own on loopback (legacy store in database 1, sessionhub in 0):
- floor: a pipelined SCAN + GET/PTTL + SET copy of the raw bytes, no decoding or checking: nothing that moves the
  same keys can be much faster;
- one by one: what an ad-hoc script does, GET and PTTL then `SessionManager.create` for each session;
- sessionhub: `Migrator.run` (decode, validate, import with aliases and markers) at each batch size.
Each contender runs --repeats times and the best run counts. Figures are ratios against the floor; absolute numbers
depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_servers import RedisServer

from sessionhub import SessionManager, Settings
from sessionhub.backends.redis import RedisBackend
from sessionhub.migrate import Migrator, SeedsSource

SEED_BATCH = 1000


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


async def one_by_one(legacy: Redis, manager: SessionManager) -> int:
    created = 0
    async for key in legacy.scan_iter(match="session:*", count=500):
        record = orjson.loads(await legacy.get(key))
        await legacy.pttl(key)
        await manager.create(user_id=record["user_id"], data=record["data"])
        created += 1
    return created


async def _scan_batches(client: Redis, batch_size: int):  # type: ignore[no-untyped-def]
    cursor = None
    while cursor != 0:
        cursor, keys = await client.scan(cursor or 0, match="session:*", count=batch_size)
        if keys:
            yield keys


async def measure(
    name: str, run: Callable[[], Awaitable[int]], reset: Callable[[], Awaitable[object]], repeats: int
) -> tuple[str, float]:
    """The best of `repeats` runs: on a shared machine, the other runs are slowed by someone else."""
    best = 0.0
    for _ in range(repeats):
        await reset()
        started = time.perf_counter()
        moved = await run()
        best = max(best, moved / (time.perf_counter() - started))
    return name, best


async def bench(sessions: int, batch_sizes: list[int], repeats: int) -> list[tuple[str, float]]:
    server = RedisServer.start()
    try:
        legacy = Redis(host=server.host, port=server.port, db=1)
        target = Redis.from_url(server.url)
        await legacy.flushdb()
        await seed(legacy, sessions)
        settings = Settings(redis_url=server.url)
        results = []
        async with SessionManager(RedisBackend(target), settings) as manager:
            results.append(
                await measure(
                    "floor: raw pipelined copy", lambda: raw_copy(legacy, target, 500), target.flushdb, repeats
                )
            )
            results.append(
                await measure("one by one (GET + create)", lambda: one_by_one(legacy, manager), target.flushdb, repeats)
            )
            for size in batch_sizes:
                migrator = Migrator(SeedsSource(), legacy, manager, batch_size=size)

                async def migrate(migrator: Migrator = migrator) -> int:
                    report = await migrator.run()
                    assert report.migrated == sessions, report
                    return report.migrated

                results.append(await measure(f"sessionhub migrate, batch {size}", migrate, target.flushdb, repeats))
        await legacy.aclose()
        await target.aclose()
        return results
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> list[tuple[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--batch-sizes", default="100,500,2000")
    parser.add_argument("--repeats", type=int, default=3, help="runs per contender; the best counts")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.repeats < 1:
        parser.error("--sessions and --repeats must be positive")
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    results = asyncio.run(bench(args.sessions, sizes, args.repeats))
    floor = results[0][1]
    table = Table(title=f"migrating {args.sessions:,} seeds sessions from a local Redis (best of {args.repeats})")
    table.add_column("contender")
    table.add_column("sessions/s", justify="right")
    table.add_column("vs floor", justify="right")
    for name, rate in results:
        table.add_row(name, f"{rate:,.0f}", f"{rate / floor:.2f}x")
    Console().print(table)
    return results


if __name__ == "__main__":
    main()
