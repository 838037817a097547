"""Throughput of sessionhub on one Redis shard and on a three-master Redis Cluster, measured in the same run.

    PYTHONPATH=$PWD/src:$PWD python bench/cluster_scaling.py                  # 5 s per topology and workload
    PYTHONPATH=$PWD/src:$PWD python bench/cluster_scaling.py --seconds 2 --processes 1 --tasks 16   # smoke run

Both deployments run on loopback, started by this script (tests/support/redis_servers.py) and stopped at the end.
Client processes (`--processes`, each with `--tasks` concurrent tasks on its own SessionManager) sign sessions in,
untimed, then for `--seconds` either read them (`get`: one script) or read and change them (`get` + `save`: two
scripts), as requests do; the median of `--repeats` runs is reported. Reported: requests/s, the ratio of the
cluster to the one shard, and the Redis CPU time per thousand requests on each node (from INFO), which shows how
the work splits over the shards even when the clients, not Redis, set the pace.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier

from tests.support.redis_servers import RedisCluster, RedisServer

from sessionhub import SessionManager, Settings
from sessionhub.backends import RedisBackend

SESSIONS_PER_PROCESS = 2_000
WORKLOADS = ("read", "read+write")


@dataclass(frozen=True)
class Job:
    url: str
    workload: str
    seconds: float
    tasks: int
    seed: int


async def _drive(job: Job, barrier: Barrier) -> int:
    backend = RedisBackend.from_url(job.url, key_prefix="bench")
    async with SessionManager(backend, Settings(key_prefix="bench", session_ttl=3600)) as manager:
        tokens = [
            str((await manager.create(user_id=f"user{job.seed}-{i}", data={"n": 0})).token)
            for i in range(SESSIONS_PER_PROCESS)
        ]
        await asyncio.to_thread(barrier.wait)
        deadline = time.monotonic() + job.seconds
        done = 0

        async def task(rng: random.Random) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                session = await manager.get(rng.choice(tokens))
                assert session is not None, "a session went missing"
                if job.workload == "read+write":
                    session.data["n"] += 1
                    await manager.save(session)
                done += 1

        await asyncio.gather(*(task(random.Random(job.seed * 1000 + i)) for i in range(job.tasks)))
        return done


def _process(job: Job, barrier: Barrier, results: multiprocessing.SimpleQueue[int]) -> None:
    results.put(asyncio.run(_drive(job, barrier)))


def _redis_cpu(nodes: Sequence[RedisServer]) -> list[float]:
    cpu = []
    for node in nodes:
        with node.client() as client:
            info = client.info("cpu")
        cpu.append(float(info["used_cpu_user"]) + float(info["used_cpu_sys"]))
    return cpu


def measure(
    url: str, nodes: Sequence[RedisServer], workload: str, args: argparse.Namespace
) -> tuple[float, list[float]]:
    """Requests/s over all client processes, and Redis CPU ms per thousand requests on each node."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(args.processes + 1)
    results: multiprocessing.SimpleQueue[int] = context.SimpleQueue()
    processes = [
        context.Process(target=_process, args=(Job(url, workload, args.seconds, args.tasks, seed), barrier, results))
        for seed in range(args.processes)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)  # every process has signed its sessions in
    cpu_before = _redis_cpu(nodes)
    started = time.monotonic()
    for process in processes:
        process.join(timeout=args.seconds + 60)
        if process.exitcode != 0:
            raise SystemExit(f"a client process failed (exit code {process.exitcode})")
    elapsed = time.monotonic() - started
    requests = sum(results.get() for _ in processes)
    cpu_ms = [1000 * (after - before) for before, after in zip(cpu_before, _redis_cpu(nodes), strict=True)]
    return requests / elapsed, [ms / (requests / 1000) for ms in cpu_ms]


def median_run(
    url: str, nodes: Sequence[RedisServer], workload: str, args: argparse.Namespace
) -> tuple[float, list[float]]:
    runs = sorted((measure(url, nodes, workload, args) for _ in range(args.repeats)), key=lambda run: run[0])
    return runs[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed run per topology and workload")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--tasks", type=int, default=32, help="concurrent tasks per client process")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median run is reported")
    args = parser.parse_args()

    print(
        f"{multiprocessing.cpu_count()} CPU cores; {args.processes} client processes x {args.tasks} tasks; "
        f"median of {args.repeats} runs of {args.seconds:g} s"
    )
    print(
        f"{'workload':<11} {'topology':<22} {'requests/s':>11} {'ratio':>6}  Redis CPU ms per 1000 requests, per node"
    )
    single = RedisServer.start()
    cluster = RedisCluster.start(masters=3)
    try:
        cluster_url = "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in cluster.startup_nodes)
        for workload in WORKLOADS:
            baseline, cpu = median_run(single.url, [single], workload, args)
            print(f"{workload:<11} {'one shard':<22} {baseline:>11,.0f} {1:>6.2f}  {_cpu(cpu)}")
            rate, cpu = median_run(cluster_url, cluster.nodes, workload, args)
            print(f"{workload:<11} {'cluster, three shards':<22} {rate:>11,.0f} {rate / baseline:>6.2f}  {_cpu(cpu)}")
    finally:
        cluster.stop()
        single.stop()


def _cpu(per_node: list[float]) -> str:
    return " / ".join(f"{ms:.1f}" for ms in per_node)


if __name__ == "__main__":
    main()
