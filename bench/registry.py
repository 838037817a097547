"""Everything one run measures. sessionhub's contenders and suites are added here, next to the peers'."""

from __future__ import annotations

from bench import floors, peers
from bench.asgi import Contender, Storage
from bench.ops import OpSuite
from bench.scale import ScaleSuite

CONTENDERS: tuple[Contender, ...] = (*peers.CONTENDERS,)
OP_SUITES: tuple[OpSuite, ...] = (*floors.OP_SUITES, *peers.OP_SUITES)
SCALE_SUITES: tuple[ScaleSuite, ...] = (*floors.SCALE_SUITES, *peers.SCALE_SUITES)

REFERENCE_PEERS: dict[Storage, str] = {
    "none": "bare",
    "cookie": "starlette-cookie",
    "memory": "starsessions-memory",
    "redis": "starsessions-redis",
}
"""The peer each contender is compared with: the one keeping its sessions in the same kind of storage."""

FLOOR = ("redis-py", "GET")
"""(suite, operation) that operation throughput is divided by: a bare Redis read at the same concurrency."""
