"""A cut-over while the legacy application keeps serving: it changes sessions, signs users in and out and starts new
sessions while migration passes run (as `--follow` runs them). After a final pass, every live legacy session is in
sessionhub as the legacy store holds it, and none that the legacy app signed out is left: nothing is lost."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, cast

from redis.asyncio import Redis

from sessionhub import SessionManager
from sessionhub.legacy import legacy_alias_id, migrated_session_id
from sessionhub.migrate import MemoryImportLedger, Migrator, SeedsSource
from tests.migrate.conftest import seed_session
from tests.support.clock import FakeClock

SESSIONS = 300
WRITES = 1_000


async def legacy_app(legacy: Redis, clock: FakeClock, cookies: list[str], signed_out: set[str]) -> dict[str, int]:
    """What the legacy application does meanwhile: WRITES changes, sign-ins, sign-outs and new sessions, at random
    (seeded: the same run every time)."""
    chance = random.Random(14)
    done = {"updates": 0, "sign_ins": 0, "sign_outs": 0, "new": 0}
    for number in range(WRITES):
        live = [cookie for cookie in cookies if cookie not in signed_out]
        cookie = chance.choice(live)
        record: dict[str, Any] = json.loads(cast(bytes, await legacy.get(f"session:{cookie}")))
        roll = chance.random()
        if roll < 0.8:
            record["data"]["visits"] += 1
            record["data"]["cart"].append(f"item {number}")
            done["updates"] += 1
        elif roll < 0.9 and record["user_id"] is None:
            record["user_id"] = f"late-{number}"
            done["sign_ins"] += 1
        elif roll < 0.95:
            await legacy.delete(f"session:{cookie}")
            signed_out.add(cookie)
            done["sign_outs"] += 1
            continue
        else:
            cookies.append(await seed_session(legacy, clock, user_id=None, index=False))
            done["new"] += 1
            continue
        await legacy.set(f"session:{cookie}", json.dumps(record), keepttl=True)
        if number % 20 == 0:
            await asyncio.sleep(0)  # let a pass run in between, as a real app's requests interleave
    return done


async def test_no_update_sign_in_or_sign_out_is_lost_during_a_live_migration(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    cookies = [
        await seed_session(legacy, clock, user_id=None if n % 4 == 0 else f"user{n}", index=False)
        for n in range(SESSIONS)
    ]
    signed_out: set[str] = set()
    migrator = Migrator(SeedsSource(), legacy, manager, ledger=MemoryImportLedger(), batch_size=50, clock=clock)
    writing = asyncio.create_task(legacy_app(legacy, clock, cookies, signed_out))
    passes = 0
    while not writing.done():
        await migrator.run()
        passes += 1
    done = writing.result()
    final = await migrator.run()

    assert passes >= 2, "passes ran while the legacy app wrote"
    assert min(done.values()) > 0, done
    assert final.conflicts == []
    verified = await migrator.verify(sample_size=SESSIONS)
    assert verified.ok, verified
    lost = []
    for cookie in cookies:
        alias_id = legacy_alias_id(cookie) or ""
        raw = await legacy.get(f"session:{cookie}")
        if raw is None:
            continue
        record = json.loads(raw)
        copy = await manager.peek(migrated_session_id(alias_id, record["user_id"]))
        if copy is None or dict(copy.data) != record["data"] or copy.user_id != record["user_id"]:
            lost.append(cookie)
    assert lost == [], f"{len(lost)} of {len(cookies)} sessions differ from the legacy store"
    for cookie in signed_out:
        assert await manager.adopt_legacy(cookie) is None, "a legacy sign-out does not survive the move"
    assert (await manager.stats())["active_sessions"] == len(cookies) - len(signed_out)
