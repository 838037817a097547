"""Migrating the seeds' legacy layout from a real legacy redis-server, on every backend."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import cast

import pytest
from redis.asyncio import Redis

from sessionhub import SessionManager
from sessionhub.legacy import legacy_alias_id, migrated_session_id
from sessionhub.migrate import MemoryCheckpoint, MigrationError, Migrator, SeedsSource
from sessionhub.migrate.checkpoint import CheckpointState
from sessionhub.migrate.report import InvalidRecord
from tests.migrate.conftest import seed_session
from tests.support.clock import FakeClock


def migrator_for(legacy: Redis, manager: SessionManager, clock: FakeClock, **options: object) -> Migrator:
    return Migrator(SeedsSource(), legacy, manager, clock=clock, **options)  # type: ignore[arg-type]


async def all_legacy_keys(legacy: Redis) -> set[bytes]:
    return {key async for key in legacy.scan_iter()}


async def test_seeds_sessions_arrive_with_users_kinds_data_and_remaining_lifetime(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    alice = await seed_session(legacy, clock, user_id="alice", ttl=500)
    indexed_only = await seed_session(legacy, clock, user_id=None, index=False)
    await legacy.sadd("user_sessions:bob", indexed_only)
    anonymous = await seed_session(legacy, clock, user_id=None)
    demo = await seed_session(legacy, clock, user_id="demo-7", demo=True, ttl=120, data={"tour_step": 2})

    report = await migrator_for(legacy, manager, clock).run()

    assert (report.scanned, report.migrated, report.already_migrated, report.invalid) == (4, 4, 0, [])
    assert report.completed
    assert report.kinds == {"user": 3, "demo": 1}
    [from_alice] = await manager.list_user_sessions("alice")
    assert from_alice.data == {"cart": ["scroll"], "visits": 3}
    assert from_alice.client.ip == "192.0.2.10"
    assert from_alice.client.user_agent == "SeedBrowser/1.0"
    assert from_alice.created_at.timestamp() == pytest.approx(clock() - 600)
    assert from_alice.expires_at.timestamp() == pytest.approx(clock() + 500, abs=1)
    assert [s.user_id for s in await manager.list_user_sessions("bob")] == ["bob"]
    demo_session = await manager.list_user_sessions("demo-7")
    assert [(s.kind, dict(s.data)) for s in demo_session] == [("demo", {"tour_step": 2})]

    for cookie, user in [(alice, "alice"), (indexed_only, "bob"), (anonymous, None), (demo, "demo-7")]:
        adopted = await manager.adopt_legacy(cookie)
        assert adopted is not None
        assert adopted.user_id == user
        assert adopted.token is not None
        assert await manager.get(adopted.token) is not None
    assert await manager.adopt_legacy(alice) is None


async def test_invalid_records_are_reported_with_reasons_and_left_in_place(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    good = await seed_session(legacy, clock)
    await legacy.set("session:" + secrets.token_hex(16), b"{not json", ex=600)
    await legacy.set("session:" + secrets.token_hex(16), b"[1, 2]", ex=600)
    await legacy.hset("session:" + secrets.token_hex(16), "user_id", "x")
    await legacy.set("session:short", b"{}", ex=600)
    await seed_session(legacy, clock, created_at="yesterday")
    await seed_session(legacy, clock, data={"blob": "x" * 70_000})
    conflicted = await seed_session(legacy, clock, user_id="carol", index=False)
    await legacy.sadd("user_sessions:dave", conflicted)
    twice_indexed = await seed_session(legacy, clock, user_id=None, index=False)
    await legacy.sadd("user_sessions:erin", twice_indexed)
    await legacy.sadd("user_sessions:fred", twice_indexed)
    await seed_session(legacy, clock, demo=True, is_demo=False)
    before = await all_legacy_keys(legacy)

    report = await migrator_for(legacy, manager, clock).run()

    reasons = sorted(entry.reason for entry in report.invalid)
    assert reasons == sorted(
        [
            "value is not valid JSON",
            "value is a JSON list, not an object",
            "it is a hash key, not a string",
            "its id cannot be a cookie value (8-512 printable ASCII characters)",
            "created_at is not an ISO 8601 time",
            "session data is 70006 bytes, over the limit of 65536 (max_data_bytes)",
            "its user_id differs from the user whose user_sessions index holds it",
            "the user indexes of 2 users hold it",
            "a demo session key holds a record with is_demo false",
        ]
    )
    assert report.migrated == 1
    assert report.scanned == 10
    assert await all_legacy_keys(legacy) == before
    for entry in report.invalid:
        assert "short" not in entry.ref
        assert conflicted not in entry.ref + entry.reason
    assert await manager.adopt_legacy(good) is not None


async def test_a_dry_run_reports_and_writes_nothing(legacy: Redis, manager: SessionManager, clock: FakeClock) -> None:
    cookies = [await seed_session(legacy, clock, user_id=f"u{n}") for n in range(5)]
    await legacy.set("session:" + secrets.token_hex(16), b"nope", ex=600)
    checkpoint = MemoryCheckpoint()

    report = await migrator_for(legacy, manager, clock, checkpoint=checkpoint, batch_size=2).run(dry_run=True)

    assert report.dry_run
    assert (report.migrated, report.already_migrated, len(report.invalid)) == (5, 0, 1)
    assert (await manager.stats())["active_sessions"] == 0
    assert await checkpoint.load() is None
    assert await manager.adopt_legacy(cookies[0]) is None

    await migrator_for(legacy, manager, clock).run()
    again = await migrator_for(legacy, manager, clock).run(dry_run=True)
    assert (again.migrated, again.already_migrated) == (0, 5)


async def test_running_again_duplicates_nothing(legacy: Redis, manager: SessionManager, clock: FakeClock) -> None:
    for n in range(6):
        await seed_session(legacy, clock, user_id=f"user{n % 2}")
    first = await migrator_for(legacy, manager, clock).run()
    second = await migrator_for(legacy, manager, clock).run()

    assert (first.migrated, second.migrated, second.already_migrated) == (6, 0, 6)
    assert len(await manager.list_user_sessions("user0")) == 3
    assert (await manager.stats())["active_sessions"] == 6


async def test_an_interrupted_migration_resumes_where_it_stopped(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    cookies = {await seed_session(legacy, clock, user_id=f"user{n}") for n in range(40)}
    cookies |= {await seed_session(legacy, clock, user_id=f"demo{n}", demo=True) for n in range(7)}
    await legacy.set("session:" + secrets.token_hex(16), b"garbage", ex=600)
    checkpoint = MemoryCheckpoint()

    partial = await migrator_for(legacy, manager, clock, checkpoint=checkpoint, batch_size=5).run(max_batches=3)
    assert not partial.completed
    saved = await checkpoint.load()
    assert saved is not None

    finished = await migrator_for(legacy, manager, clock, checkpoint=checkpoint, batch_size=5).run()

    assert finished.resumed
    assert finished.completed
    assert finished.migrated + finished.already_migrated == 47
    assert finished.migrated == 47, "a batch limit stops after a checkpoint: nothing is redone"
    assert len(finished.invalid) == 1
    assert finished.kinds == {"user": 40, "demo": 7}
    assert await checkpoint.load() is None
    assert (await manager.stats())["active_sessions"] == 47
    for cookie in cookies:
        assert await manager.adopt_legacy(cookie) is not None


class CrashingCheckpoint(MemoryCheckpoint):
    """Dies once, after the import of the batch it was asked to record: the worst moment.

    It waits for a batch that imported something (SCAN may hand out empty batches), and remembers how many that
    batch imported, so a test can check that exactly those are read again.
    """

    def __init__(self, crash_on_save: int) -> None:
        super().__init__()
        self.saves = 0
        self.crash_on_save = crash_on_save
        self.migrated_before = 0
        self.lost_imports = 0

    async def save(self, state: CheckpointState, new_invalid: list[InvalidRecord]) -> None:  # type: ignore[override]
        self.saves += 1
        migrated = state.counts["migrated"]
        if not self.lost_imports and self.saves >= self.crash_on_save and migrated > self.migrated_before:
            self.lost_imports = migrated - self.migrated_before
            raise ConnectionError("the migration host went away")
        self.migrated_before = migrated
        await super().save(state, new_invalid)


async def test_a_crash_between_import_and_checkpoint_redoes_one_batch_harmlessly(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    cookies = [await seed_session(legacy, clock, user_id=f"user{n}") for n in range(30)]
    checkpoint = CrashingCheckpoint(crash_on_save=3)
    with pytest.raises(ConnectionError):
        await migrator_for(legacy, manager, clock, checkpoint=checkpoint, batch_size=4).run()

    resumed = await migrator_for(legacy, manager, clock, checkpoint=checkpoint, batch_size=4).run()

    assert resumed.completed
    assert checkpoint.lost_imports > 0
    assert resumed.already_migrated == checkpoint.lost_imports, "the batch whose checkpoint was lost is read again"
    assert resumed.migrated + resumed.already_migrated == 30
    assert (await manager.stats())["active_sessions"] == 30
    for cookie in cookies:
        assert await manager.adopt_legacy(cookie) is not None


@pytest.mark.parametrize(
    "other_source",
    ["starsessions:x=user@127.0.0.1:6379/0", "seeds:session:=user,demo:session:=demo@192.0.2.8:6379/0"],
    ids=["another layout", "the same layout on another server"],
)
async def test_a_checkpoint_of_another_source_is_refused(
    legacy: Redis, manager: SessionManager, clock: FakeClock, other_source: str
) -> None:
    checkpoint = MemoryCheckpoint()
    await checkpoint.save(CheckpointState(other_source, 0, 42), [])

    with pytest.raises(MigrationError, match="another source"):
        await migrator_for(legacy, manager, clock, checkpoint=checkpoint).run()


async def test_expired_and_vanishing_records_are_counted_not_migrated(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    await seed_session(legacy, clock, demo=True, ttl=3600, expires_at="2001-01-01T00:00:00")
    await seed_session(legacy, clock)

    report = await migrator_for(legacy, manager, clock).run()

    assert (report.migrated, report.expired, report.invalid) == (1, 1, [])


async def test_verify_counts_and_samples_then_delete_source_cleans_only_what_is_safe(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    cookies = [await seed_session(legacy, clock, user_id="erin") for _ in range(8)]
    await legacy.set("session:" + secrets.token_hex(16), b"broken", ex=600)
    migrator = migrator_for(legacy, manager, clock, batch_size=3)
    await migrator.run()
    assert await manager.adopt_legacy(cookies[0]) is not None
    await manager.revoke(migrated_session_id(legacy_alias_id(cookies[1]) or "", "erin"))
    late = await seed_session(legacy, clock, user_id="erin")

    not_yet = await migrator.verify(sample_size=3)
    assert not not_yet.ok
    assert not_yet.missing == [f"session:<{legacy_alias_id(late)}>"]
    with pytest.raises(MigrationError, match="verification did not pass"):
        await migrator.delete_source(not_yet)
    assert await legacy.exists(f"session:{cookies[2]}") == 1

    await migrator.run()
    verified = await migrator.verify(sample_size=3)
    assert verified.ok
    assert (verified.source_sessions, verified.pending, verified.adopted, verified.ended) == (9, 7, 1, 1)
    assert (verified.sampled, verified.mismatched, verified.invalid) == (3, [], 1)

    deleted = await migrator.delete_source(verified)

    assert (deleted.deleted, deleted.kept_invalid, deleted.kept_not_migrated, deleted.kept_changed) == (9, 1, 0, 0)
    assert len(await all_legacy_keys(legacy)) == 1, "only the invalid record is left"
    assert await legacy.exists("user_sessions:erin") == 0
    for cookie in cookies[2:]:
        assert await manager.adopt_legacy(cookie) is not None, "deleting the source signs nobody out"


async def test_verify_notices_a_session_that_differs(legacy: Redis, manager: SessionManager, clock: FakeClock) -> None:
    cookie = await seed_session(legacy, clock, user_id="fay", data={"plan": "free"})
    migrator = migrator_for(legacy, manager, clock)
    await migrator.run()
    await legacy.set(
        f"session:{cookie}",
        cast(bytes, await legacy.get(f"session:{cookie}") or b"").replace(b'"free"', b'"pro"'),
        keepttl=True,
    )

    verified = await migrator.verify()

    assert not verified.ok
    assert [entry.reason for entry in verified.mismatched] == ["its data differs in sessionhub (keys 'plan')"]


async def test_remaining_ttl_without_expiry_field_and_clock(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    cookie = await seed_session(legacy, clock, ttl=90)
    await migrator_for(legacy, manager, clock).run()
    session_id = migrated_session_id(legacy_alias_id(cookie) or "", "alice")
    peeked = await manager.peek(session_id)
    assert peeked is not None
    assert peeked.expires_at - timedelta(seconds=90) <= peeked.last_active_at + timedelta(seconds=60)
    clock.advance(91)
    assert await manager.adopt_legacy(cookie) is None


async def test_delete_source_keeps_a_record_the_legacy_app_changed_after_its_import(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    """A user still on the old cookie keeps using the legacy app after the bulk import: that record is newer than
    sessionhub's copy, and deleting it would lose the update. One adopted meanwhile no longer needs its record."""
    cookies = [await seed_session(legacy, clock, user_id=user) for user in ("gia", "hal", "ivo")]
    migrator = migrator_for(legacy, manager, clock)
    await migrator.run()
    assert await manager.adopt_legacy(cookies[2]) is not None  # ivo moved to sessionhub
    for cookie in (cookies[0], cookies[2]):  # the legacy app writes to gia's and ivo's records afterwards
        record = json.loads(cast(bytes, await legacy.get(f"session:{cookie}")))
        record["data"]["cart"].append("newer")
        await legacy.set(f"session:{cookie}", json.dumps(record), ex=3600)

    verified = await migrator.verify(sample_size=0)
    deleted = await migrator.delete_source(verified)

    assert (deleted.deleted, deleted.kept_changed) == (2, 1)
    [kept] = deleted.kept
    assert kept.ref == f"session:<{legacy_alias_id(cookies[0])}>"
    assert kept.reason.startswith("changed since its import: its data differs in sessionhub")
    assert await legacy.exists(f"session:{cookies[0]}") == 1, "the newer copy is still there, for a re-sync"
    assert await legacy.exists(f"session:{cookies[1]}") == 0
    assert await legacy.exists(f"session:{cookies[2]}") == 0
