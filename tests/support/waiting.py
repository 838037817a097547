"""Waiting, bounded, for something that happens in the background (a reconnection, a breaker opening)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(condition: Callable[[], bool], what: str, *, deadline: float) -> None:
    """Return once `condition()` holds; raise TimeoutError naming `what` once `time.monotonic()` passes `deadline`."""
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in time")
        await asyncio.sleep(0.005)
