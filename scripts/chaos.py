"""Chaos run: Redis is killed, hung and restarted empty, again and again, under a concurrent session workload.

Each round starts its own redis-server on loopback, runs the workload (tests/support/workload.py) through one outage
and the recovery, then checks every session against Redis itself. Prints the counts the issue asks for and exits
non-zero if any user saw an error, any write was lost or any ended session came back.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
import time
import uuid
from typing import Any

from tests.support.redis_servers import RedisServer
from tests.support.workload import Counts, Outage, run_outage

from sessionhub import SessionManager, Settings
from sessionhub.backends import RedisBackend, ResilientBackend
from sessionhub.backends.resilient.breaker import CircuitBreaker

COLUMNS = [
    ("fault", 13), ("ops", 7), ("outage ops", 10), ("errors", 6), ("lost", 4), ("resurrected", 11),
    ("failed calls", 12), ("trips", 5), ("probes", 6), ("replayed", 8), ("written back", 12), ("slowest in outage", 17),
    ("seconds", 7),
]  # fmt: skip


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="outages, cycling kill, hang, restart-empty")
    parser.add_argument("--clients", type=int, default=32, help="concurrent simulated browsers")
    parser.add_argument("--operations", type=int, default=5000, help="operations during each outage")
    parser.add_argument("--call-timeout", type=float, default=0.25, help="seconds per Redis call")
    parser.add_argument("--time-limit", type=float, default=120, help="seconds one round may take at most")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


async def one_round(fault: str, args: argparse.Namespace, seed: int) -> tuple[Counts, dict[str, Any], float]:
    prefix = f"chaos{uuid.uuid4().hex[:8]}"
    settings = Settings(key_prefix=prefix, redis_call_timeout=args.call_timeout)
    started = time.perf_counter()
    with RedisServer.start(persistence=fault != "restart-empty") as server:
        timeout = args.call_timeout
        primary = RedisBackend.from_url(
            server.url, key_prefix=prefix, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        breaker = CircuitBreaker(threshold=settings.breaker_threshold, max_backoff=1.0)
        backend = ResilientBackend(primary, call_timeout=timeout, breaker=breaker)
        async with SessionManager(backend, settings) as manager:
            counts = await run_outage(
                manager,
                Outage(fault, server),
                clients=args.clients,
                operations_before=args.operations // 2,
                operations_during=args.operations,
                operations_after=args.operations // 2,
                seed=seed,
                time_limit=args.time_limit,
                truth=lambda: SessionManager(RedisBackend.from_url(server.url, key_prefix=prefix), settings),
            )
            stats = await manager.stats()
    return counts, stats, time.perf_counter() - started


def row(values: list[Any]) -> str:
    return "  ".join(str(value).rjust(width) for value, (_, width) in zip(values, COLUMNS, strict=True))


async def main() -> int:
    args = parse()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("sessionhub").setLevel(logging.ERROR)  # the table says it all
    print(row([name for name, _ in COLUMNS]))
    totals: dict[str, float] = dict.fromkeys(["ops", "during", "errors", "lost", "resurrected", "failed"], 0)
    for number, fault in zip(range(args.rounds), itertools.cycle(Outage.FAULTS), strict=False):
        counts, stats, seconds = await one_round(fault, args, args.seed + number)
        print(
            row(
                [
                    fault,
                    counts.operations,
                    counts.during_outage,
                    counts.errors,
                    counts.lost_writes,
                    counts.resurrected,
                    stats["failed_calls"],
                    stats["breaker_trips"],
                    stats["probes"],
                    stats["journal_replayed"],
                    stats["sessions_written_back"],
                    f"{counts.slowest_during_outage * 1000:.1f} ms",
                    f"{seconds:.1f}",
                ]
            )
        )
        if counts.error_kinds:
            print(f"  errors: {dict(counts.error_kinds)}")
        totals["ops"] += counts.operations
        totals["during"] += counts.during_outage
        totals["errors"] += counts.errors
        totals["lost"] += counts.lost_writes
        totals["resurrected"] += counts.resurrected
        totals["failed"] += stats["failed_calls"]
    print(
        f"\n{args.rounds} outages, {totals['ops']:.0f} operations ({totals['during']:.0f} during outages): "
        f"{totals['errors']:.0f} errors returned to callers, {totals['lost']:.0f} lost writes, "
        f"{totals['resurrected']:.0f} resurrected sessions; {totals['failed']:.0f} requests waited for a failing Redis"
    )
    return 1 if totals["errors"] or totals["lost"] or totals["resurrected"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
