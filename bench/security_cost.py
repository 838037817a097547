"""What security monitoring costs a read: Redis round trips (counted) and throughput (ratio, same run).

    python bench/security_cost.py [--reads 5000] [--repeats 3] [--quick]

Starts its own redis-server on a free loopback port and stops it at the end. "plain" is `manager.get(token)` on a
manager without observers; "monitored" is `manager.get(token, client=...)` on a manager with Prometheus metrics
attached (risk assessment, token-abuse accounting, latency histograms). Round trips are counted on the client
socket (a script call or a pipeline is one); throughput is reported as monitored / plain in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import ConnectionPool, Redis

from sessionhub import ClientInfo, SessionManager, Settings
from sessionhub.backends import MemoryBackend, RedisBackend, SessionBackend
from sessionhub.metrics import SessionMetrics

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.counting import CountingConnection
from tests.support.redis_servers import RedisServer

LAPTOP = ClientInfo(ip="198.51.100.20", user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0")
SAME_NETWORK = ClientInfo(ip="198.51.100.21", user_agent=LAPTOP.user_agent)
OTHER_DEVICE = ClientInfo(ip=LAPTOP.ip, user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0")


async def round_trips(call: Awaitable[Any]) -> int:
    before = CountingConnection.sent
    await call
    return CountingConnection.sent - before


async def count_round_trips(server: RedisServer) -> list[tuple[str, int, int]]:
    """(scenario, plain round trips, monitored round trips) for each kind of read."""
    pool = ConnectionPool(
        host=server.host, port=server.port, connection_class=CountingConnection, health_check_interval=0
    )
    backend = RedisBackend(Redis(connection_pool=pool), key_prefix="bench-rt")
    async with SessionManager(backend, Settings(key_prefix="bench-rt")) as manager:
        session = await manager.create(user_id="alice", client=LAPTOP)
        token = session.token
        assert token is not None
        unknown = token[:2] + ("A" if token[2] != "A" else "B") + token[3:]
        plain = {
            "hit, same client": await round_trips(manager.get(token)),
            "hit, same network (low risk)": await round_trips(manager.get(token)),
            "hit, new device (flagged, first time)": await round_trips(manager.get(token)),
            "hit, same new device again": await round_trips(manager.get(token)),
            "unknown token (miss)": await round_trips(manager.get(unknown)),
            "malformed token": await round_trips(manager.get("x")),
        }
        SessionMetrics(manager)
        monitored = {
            "hit, same client": await round_trips(manager.get(token, client=LAPTOP)),
            "hit, same network (low risk)": await round_trips(manager.get(token, client=SAME_NETWORK)),
            "hit, new device (flagged, first time)": await round_trips(manager.get(token, client=OTHER_DEVICE)),
            "hit, same new device again": await round_trips(manager.get(token, client=OTHER_DEVICE)),
            "unknown token (miss)": await round_trips(manager.get(unknown, client=LAPTOP)),
            "malformed token": await round_trips(manager.get("x", client=LAPTOP)),
        }
    await pool.aclose()
    return [(scenario, plain[scenario], monitored[scenario]) for scenario in plain]


async def read_costs(make_backend: Callable[[], SessionBackend], reads: int) -> dict[str, tuple[float, float]]:
    """{"plain"|"monitored": (reads per second, client CPU microseconds per read)}.

    Both managers share one backend and read in alternating batches, so that a busy machine slows both alike.
    """
    async with make_backend() as backend:
        plain = SessionManager(backend, Settings(key_prefix="bench-tp"))
        monitored = SessionManager(backend, Settings(key_prefix="bench-tp"))
        SessionMetrics(monitored)
        session = await plain.create(user_id="alice", client=LAPTOP, data={"cart": [1, 2, 3]})
        runs = {"plain": (plain, None), "monitored": (monitored, LAPTOP)}
        wall = dict.fromkeys(runs, 0.0)
        cpu = dict.fromkeys(runs, 0.0)
        batch = 100
        for round_number in range(reads // batch + 1):
            for name, (manager, client) in runs.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                for _ in range(batch):
                    await manager.get(session.token, client=client)
                if round_number:  # the first round warms up (scripts cached, connections open)
                    wall[name] += time.perf_counter() - started
                    cpu[name] += time.process_time() - started_cpu
        done = batch * (reads // batch)
        return {name: (done / wall[name], cpu[name] / done * 1e6) for name in runs}


async def main(reads: int, repeats: int) -> None:
    server = RedisServer.start()
    try:
        print("Redis round trips per read (counted on the client socket)")
        print(f"{'scenario':<40} {'plain':>6} {'monitored':>10}")
        for scenario, plain, monitored in await count_round_trips(server):
            print(f"{scenario:<40} {plain:>6} {monitored:>10}")

        print(f"\nSequential reads of one session (one task), median of {repeats} runs of {reads} reads each")
        print(f"{'backend':<8} {'plain/s':>9} {'monitored/s':>12} {'ratio':>6} {'CPU µs plain':>13} {'monitored':>10}")
        backends: dict[str, Callable[[], SessionBackend]] = {
            "memory": MemoryBackend,
            "redis": lambda: RedisBackend.from_url(server.url, key_prefix="bench-tp"),
        }
        for name, make in backends.items():
            runs = [await read_costs(make, reads) for _ in range(repeats)]
            runs.sort(key=lambda run: run["monitored"][0] / run["plain"][0])
            median = runs[repeats // 2]
            (plain, plain_cpu), (monitored, monitored_cpu) = median["plain"], median["monitored"]
            print(
                f"{name:<8} {plain:>9.0f} {monitored:>12.0f} {monitored / plain:>6.2f} "
                f"{plain_cpu:>13.1f} {monitored_cpu:>10.1f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI: few reads, one repeat")
    arguments = parser.parse_args()
    if arguments.reads < 1 or arguments.repeats < 1:
        parser.error("--reads and --repeats must be at least 1")
    if arguments.quick:
        arguments.reads, arguments.repeats = 200, 1
    asyncio.run(main(arguments.reads, arguments.repeats))
