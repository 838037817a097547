"""How long a session revoked by one process is still served by another one's client cache.

    python -m bench.revocation_delay                  # 300 revocations
    python -m bench.revocation_delay --trials 30      # smoke run

Two processes on one redis-server (started here, on loopback), each with the default stack (client cache on). For
each trial the reader caches a session and then reads it in a loop, as a busy process serving its user would; the
writer revokes it and notes the moment its `delete` returned; the reader notes the moment its first read found the
session gone. The difference is the window in which the revoked session was still served elsewhere (negative: the
invalidation arrived before the writer's own reply). Both times are CLOCK_MONOTONIC, which the processes share.
Reported: median, 99th percentile and worst case (the reader's own polling, a few microseconds a read, included).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection

from tests.support.redis_servers import RedisServer

from sessionhub import SessionManager, Settings


async def _reader(url: str, pipe: Connection) -> None:
    async with SessionManager.from_settings(Settings(redis_url=url, key_prefix="revocation")) as manager:
        loop = asyncio.get_running_loop()
        while (token := await loop.run_in_executor(None, pipe.recv)) is not None:
            assert await manager.get(token) is not None  # cached from here on
            pipe.send("polling")
            # Polling is the point (noqa): a busy process reading its cached copy, request after request.
            while await manager.get(token) is not None:  # noqa: ASYNC110
                await asyncio.sleep(0)
            pipe.send(time.monotonic())


def _reader_process(url: str, pipe: Connection) -> None:
    asyncio.run(_reader(url, pipe))


async def _writer(url: str, pipe: Connection, trials: int) -> list[float]:
    rng = random.Random(7)
    results = []
    async with SessionManager.from_settings(Settings(redis_url=url, key_prefix="revocation")) as manager:
        for _ in range(trials):
            session = await manager.create(user_id="someone")
            pipe.send(session.token)
            assert pipe.recv() == "polling"
            await asyncio.sleep(rng.uniform(0, 0.005))
            assert await manager.delete(session.token)
            revoked_at = time.monotonic()
            results.append(pipe.recv() - revoked_at)
        pipe.send(None)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=300)
    options = parser.parse_args(argv)
    with RedisServer.start() as server:
        ours, theirs = multiprocessing.Pipe()
        reader = multiprocessing.get_context("spawn").Process(target=_reader_process, args=(server.url, theirs))
        reader.start()
        try:
            results = asyncio.run(_writer(server.url, ours, options.trials))
        finally:
            reader.join(timeout=10)
            if reader.is_alive():
                reader.kill()
    delays = sorted(delay * 1000 for delay in results)
    late = [delay for delay in delays if delay > 0]
    print(f"{len(delays)} revocations, the reader polling its cached copy:")
    print(
        f"  served after the revocation returned: median {statistics.median(delays):.3f} ms, "
        f"p99 {delays[int(len(delays) * 0.99) - 1]:.3f} ms, worst {delays[-1]:.3f} ms"
    )
    print(f"  trials with a stale read after the revocation returned: {len(late)} of {len(delays)}")


if __name__ == "__main__":
    main()
