"""What the default stack costs a read, layer by layer: `SessionManager.from_settings` (ResilientBackend over Redis,
the client cache on) against the same manager on a bare RedisBackend, and both with the client cache off, against
a raw redis-py GET loop of the same payload (the floor of an uncached read: one command, no checks).

    python bench/default_stack.py [--reads 20000] [--rounds 5] [--quick]

Starts its own redis-server on a free loopback port and stops it at the end. Each round reads one signed-in session
(the typical payload) `--reads` times on one task with every contender in turn; the ratio is the median over the
rounds of resilient / bare in the same round, with its min-max, and CPU is the client's microseconds per read.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_servers import RedisServer

from bench.workload import typical_payload
from sessionhub import SessionManager, Settings
from sessionhub.backends import RedisBackend

RAW_GET = "raw redis-py GET (same payload)"


async def measure(url: str, reads: int, rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """{contender: (reads per second by round, CPU µs per read by round)}."""
    managers: dict[str, SessionManager] = {}
    for cache in (10_000, 0):
        label = "cache on" if cache else "cache off"
        settings = Settings(redis_url=url, key_prefix=f"stack-{cache}", redis_client_cache=cache)
        managers[f"from_settings ({label})"] = SessionManager.from_settings(settings)
        bare = RedisBackend.from_url(url, key_prefix=f"bare-{cache}", client_cache=cache)
        managers[f"RedisBackend ({label})"] = SessionManager(bare, settings)
    raw = Redis.from_url(url)
    await raw.set("raw-get", orjson.dumps(typical_payload(1)))
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in [*managers, RAW_GET]}
    for manager in managers.values():
        await manager.open()
    try:
        reads_of: dict[str, Callable[[], Awaitable[object]]] = {RAW_GET: functools.partial(raw.get, "raw-get")}
        for name, manager in managers.items():
            created = await manager.create(user_id="bench", data=typical_payload(1))
            reads_of[name] = functools.partial(manager.get, created.token)
        for _ in range(rounds):
            for name, read in reads_of.items():
                for _ in range(200):
                    await read()
                started, cpu = time.perf_counter(), time.process_time()
                for _ in range(reads):
                    await read()
                results[name][0].append(reads / (time.perf_counter() - started))
                results[name][1].append((time.process_time() - cpu) / reads * 1e6)
    finally:
        for manager in managers.values():
            await manager.close()
        await raw.aclose()
    return results


def _ratio(rates: list[float], against: list[float]) -> str:
    """The median of the round-by-round ratios, with their min-max."""
    ratios = [a / b for a, b in zip(rates, against, strict=True)]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def main(reads: int, rounds: int) -> None:
    server = RedisServer.start()
    try:
        results = asyncio.run(measure(server.url, reads, rounds))
    finally:
        server.stop()
    print("| contender | reads/s | CPU µs/read | from_settings / RedisBackend | against a raw GET |")
    print("|---|---|---|---|---|")
    for name, (rates, cpu) in results.items():
        ratio = ""
        if name.startswith("from_settings"):
            ratio = _ratio(rates, results[name.replace("from_settings", "RedisBackend")][0])
        against_raw = _ratio(rates, results[RAW_GET][0]) if "cache off" in name else ""
        print(f"| {name} | {statistics.median(rates):,.0f} | {statistics.median(cpu):.1f} | {ratio} | {against_raw} |")
    print(f"\n{reads} reads per contender, {rounds} rounds interleaved, one task.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    arguments = parser.parse_args()
    if arguments.reads < 1 or arguments.rounds < 1:
        parser.error("--reads and --rounds must be at least 1")
    if arguments.quick:
        arguments.reads, arguments.rounds = 200, 1
    main(arguments.reads, arguments.rounds)
