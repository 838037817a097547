"""Following a Sentinel-managed primary closely enough that no write lands on a replaced one.

redis-py asks the Sentinels only when it opens a connection, and a replaced primary that is still up goes on
acknowledging writes until Sentinel demotes it, about ten seconds after a SENTINEL FAILOVER; its resync then drops
them all (tests/backends/redis/test_sentinel_failover.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio.sentinel import SentinelConnectionPool

from sessionhub.backends.redis.failures import FAILURES

logger = logging.getLogger("sessionhub")

PRIMARY_CHECK_INTERVAL = 1.0
"""How often a backend on a Sentinel-managed primary asks the Sentinels where the primary is."""


async def follow_primary(pool: SentinelConnectionPool) -> None:
    """Drop every connection to a primary that Sentinel has replaced, within PRIMARY_CHECK_INTERVAL; runs until
    cancelled. Connections in use are dropped too: they are talking to that primary."""
    # Our own record, not the pool's: a connection opened meanwhile updates the pool's address, and drops idle
    # connections, but leaves those in use talking to the old primary.
    known = pool.master_address
    while True:
        await asyncio.sleep(PRIMARY_CHECK_INTERVAL)
        with contextlib.suppress(*FAILURES):  # no Sentinel answers: ask again at the next tick
            current = await pool.get_master_address()  # type: ignore[no-untyped-call]
            if known is not None and current != known:
                logger.warning("Sentinel moved the primary; reconnecting", extra={"event": "sentinel_failover"})
                await pool.disconnect(inuse_connections=True)
            known = current
