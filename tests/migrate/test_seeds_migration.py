"""Migrating the seeds' legacy layout from a real legacy redis-server, on every backend."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from sessionhub import SessionManager
from sessionhub.legacy import legacy_alias_id, migrated_session_id
from sessionhub.migrate import MemoryCheckpoint, MemoryImportLedger, MigrationError, Migrator, SeedsSource
from sessionhub.migrate.checkpoint import CheckpointState
from sessionhub.migrate.migrator import IN_FLIGHT
from sessionhub.migrate.report import InvalidRecord
from tests.migrate.conftest import iso, seed_session
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager


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

    async def save(  # type: ignore[override]
        self, state: CheckpointState, new_invalid: list[InvalidRecord], new_conflicts: list[InvalidRecord]
    ) -> None:
        self.saves += 1
        migrated = state.counts["migrated"]
        if not self.lost_imports and self.saves >= self.crash_on_save and migrated > self.migrated_before:
            self.lost_imports = migrated - self.migrated_before
            raise ConnectionError("the migration host went away")
        self.migrated_before = migrated
        await super().save(state, new_invalid, new_conflicts)


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
    # The batch whose checkpoint was lost is read again, and so are those imported while it was (in flight).
    assert checkpoint.lost_imports <= resumed.already_migrated <= checkpoint.lost_imports + IN_FLIGHT * 4
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
    await checkpoint.save(CheckpointState(other_source, 0, "42"), [], [])

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


async def test_verify_names_every_session_changed_since_its_import_and_a_rerun_brings_it_over(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    cookie = await seed_session(legacy, clock, user_id="fay", data={"plan": "free"})
    migrator = migrator_for(legacy, manager, clock)
    await migrator.run()
    await legacy.set(
        f"session:{cookie}",
        cast(bytes, await legacy.get(f"session:{cookie}") or b"").replace(b'"free"', b'"pro"'),
        keepttl=True,
    )

    verified = await migrator.verify(sample_size=0)

    assert not verified.ok
    assert verified.stale == [f"session:<{legacy_alias_id(cookie)}>"], "every record is checked, not a sample"
    again = await migrator.run()
    assert (again.migrated, again.updated, again.already_migrated) == (0, 1, 0)
    assert (await migrator.verify()).ok
    adopted = await manager.adopt_legacy(cookie)
    assert adopted is not None
    assert adopted.data["plan"] == "pro"


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


async def write_in_legacy_app(legacy: Redis, cookie: str, item: str) -> None:
    record = json.loads(cast(bytes, await legacy.get(f"session:{cookie}")))
    record["data"]["cart"].append(item)
    await legacy.set(f"session:{cookie}", json.dumps(record), ex=3600)


async def test_delete_source_deletes_only_records_that_still_hold_what_was_imported(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    """Users still on the old cookie keep using the legacy app after the import. A change to a session waiting for
    its browser is brought over by a re-sync; one after the session's adoption is a conflict (sessionhub's copy
    wins). Between the verification and the clean-up the legacy app writes again: that record is newer than
    sessionhub's copy, and deleting it would lose the update."""
    gia, hal, ivo = [await seed_session(legacy, clock, user_id=user) for user in ("gia", "hal", "ivo")]
    migrator = migrator_for(legacy, manager, clock)
    await migrator.run()
    assert await manager.adopt_legacy(ivo) is not None  # ivo moved to sessionhub
    for cookie in (gia, ivo):
        await write_in_legacy_app(legacy, cookie, "newer")
    resync = await migrator.run()
    assert (resync.updated, resync.already_migrated) == (1, 1)
    assert [entry.ref for entry in resync.conflicts] == [f"session:<{legacy_alias_id(ivo)}>"]
    verified = await migrator.verify(sample_size=10)
    assert verified.ok
    assert (verified.conflicts, verified.stale) == (1, [])
    await write_in_legacy_app(legacy, gia, "newest")  # after the verification

    deleted = await migrator.delete_source(verified)

    assert (deleted.deleted, deleted.kept_changed) == (1, 2)
    assert {entry.ref: entry.reason.split(":")[0] for entry in deleted.kept} == {
        f"session:<{legacy_alias_id(gia)}>": "changed since its import",
        f"session:<{legacy_alias_id(ivo)}>": "changed in the legacy store after its import, and adopted by its "
        "browser since",
    }
    assert await legacy.exists(f"session:{gia}") == 1, "the newer copy is still there, for a re-sync"
    assert await legacy.exists(f"session:{hal}") == 0
    assert await legacy.exists(f"session:{ivo}") == 1
    adopted = await manager.adopt_legacy(gia)
    assert adopted is not None
    assert adopted.data["cart"] == ["scroll", "newer"], "the re-sync brought the first change over"


async def test_a_rerun_follows_what_the_legacy_app_did_meanwhile(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    """The legacy application keeps serving between two passes: it changes a session, signs an anonymous one in,
    signs one out (its record deleted), and the record of a session already adopted in sessionhub expires there."""
    changed, signed_out, adopted, untouched = [
        await seed_session(legacy, clock, user_id=user) for user in ("kim", "lou", "max", "ned")
    ]
    anonymous = await seed_session(legacy, clock, user_id=None)
    ledger = MemoryImportLedger()
    migrator = migrator_for(legacy, manager, clock, ledger=ledger, batch_size=2)
    first = await migrator.run()
    assert (first.migrated, first.ended_in_source) == (5, 0)
    moved = await manager.adopt_legacy(adopted)
    assert moved is not None
    assert moved.token is not None

    await write_in_legacy_app(legacy, changed, "newer")
    await legacy.delete(f"session:{signed_out}", f"session:{adopted}")
    record = json.loads(cast(bytes, await legacy.get(f"session:{anonymous}")))
    await legacy.set(f"session:{anonymous}", json.dumps({**record, "user_id": "ola"}), ex=3600)

    second = await migrator.run()

    assert (second.migrated, second.updated, second.already_migrated) == (1, 1, 1)
    assert second.ended_in_source == 2, "the signed-out session, and the anonymous copy of the one that signed in"
    assert second.conflicts == []
    assert await manager.adopt_legacy(signed_out) is None, "a legacy logout does not survive the move"
    [event] = [e for e in await manager.security_events("lou") if e.type == "revoked"]
    assert (event.actor, event.reason) == ("system", "deleted in the legacy store")
    assert await manager.get(moved.token) is not None, "an adopted session no longer depends on its legacy record"
    signed_in = await manager.adopt_legacy(anonymous)
    assert signed_in is not None
    assert signed_in.user_id == "ola"
    brought_over = await manager.adopt_legacy(changed)
    assert brought_over is not None
    assert brought_over.data["cart"] == ["scroll", "newer"]
    assert await manager.adopt_legacy(untouched) is not None
    assert len(ledger.session_ids) == 3, "sessions whose record is gone leave the ledger"


async def test_only_a_pass_that_read_the_whole_source_ends_sessions(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    cookies = [await seed_session(legacy, clock, user_id=f"p{n}") for n in range(6)]
    ledger, checkpoint = MemoryImportLedger(), MemoryCheckpoint()
    migrator = migrator_for(legacy, manager, clock, ledger=ledger, checkpoint=checkpoint, batch_size=2)
    await migrator.run()
    await legacy.delete(f"session:{cookies[0]}")

    stopped = await migrator.run(max_batches=1)
    dry = await migrator.run(dry_run=True)
    resumed = await migrator.run()

    assert not stopped.completed
    assert (dry.ended_in_source, resumed.ended_in_source) == (0, 0), "neither read the source from its start"
    assert resumed.completed
    session_id = migrated_session_id(legacy_alias_id(cookies[0]) or "", "p0")
    assert await manager.peek(session_id) is not None
    assert (await migrator.run()).ended_in_source == 1
    assert await manager.peek(session_id) is None


async def test_a_dry_run_reports_what_a_resync_would_do_and_writes_nothing(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    waiting = await seed_session(legacy, clock, user_id="pat")
    adopted = await seed_session(legacy, clock, user_id="rae")
    migrator = migrator_for(legacy, manager, clock)
    await migrator.run()
    assert await manager.adopt_legacy(adopted) is not None
    for cookie in (waiting, adopted):
        await write_in_legacy_app(legacy, cookie, "later")
    await seed_session(legacy, clock, user_id="sol")

    dry = await migrator.run(dry_run=True)

    assert (dry.migrated, dry.updated, dry.already_migrated) == (1, 1, 0)
    assert [entry.ref for entry in dry.conflicts] == [f"session:<{legacy_alias_id(adopted)}>"]
    assert (await migrator.verify(sample_size=0)).stale == [f"session:<{legacy_alias_id(waiting)}>"]


async def test_seeds_demo_sessions_arrive_as_demo_sessions_with_their_conversation(
    legacy: Redis, make_manager: MakeManager, clock: FakeClock
) -> None:
    manager = await make_manager(max_messages=3)
    said = [{"role": "user", "content": f"question {n}", "timestamp": iso(clock, -300 + n)} for n in range(3)] + [
        {"role": "assistant", "content": "the answer"}
    ]
    walkthrough: dict[str, Any] = {
        "industry": "insurance",
        "progress": {"step": 2, "total": 5},
        "status": "In progress",
    }
    cookie = await seed_session(
        legacy, clock, user_id=None, demo=True, data={"messages": said, "theme": "dark"}, **walkthrough
    )
    percent = await seed_session(legacy, clock, user_id=None, demo=True, industry="retail", progress=40)
    bad_role = await seed_session(
        legacy, clock, user_id=None, demo=True, data={"messages": [{"role": "bot", "content": "hi"}]}
    )
    migrator = migrator_for(legacy, manager, clock)

    report = await migrator.run()

    assert (report.migrated, report.kinds) == (2, {"demo": 2})
    assert [(entry.ref, entry.reason) for entry in report.invalid] == [
        (f"demo:session:<{legacy_alias_id(bad_role)}>", "message role must be one of user, assistant, system")
    ]
    adopted = await manager.adopt_legacy(cookie)
    assert adopted is not None
    assert adopted.token is not None
    assert adopted.kind == "demo"
    status = await manager.demo_status(adopted.token)
    assert status is not None
    assert (status.industry, status.step, status.total, status.status, status.messages) == (
        "insurance",
        2,
        5,
        "in_progress",
        3,
    )
    messages = await manager.get_messages(adopted.token)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "question 1"),
        ("user", "question 2"),
        ("assistant", "the answer"),
    ], "in order, the newest max_messages kept"
    assert messages[0].created_at.timestamp() == pytest.approx(clock() - 299)
    assert dict(adopted.data) == {
        "theme": "dark",
        "demo.industry": "insurance",
        "demo.progress": {"step": 2, "total": 5, "status": "in_progress"},
    }
    other = await manager.adopt_legacy(percent)
    assert other is not None
    other_status = await manager.demo_status(other.token)
    assert other_status is not None
    assert (other_status.industry, other_status.step, other_status.total, other_status.status) == (
        "retail",
        40,
        100,
        "new",
    )


async def test_a_resync_replaces_the_conversation_of_a_waiting_demo_session(
    legacy: Redis, manager: SessionManager, clock: FakeClock
) -> None:
    said = [{"role": "user", "content": "hello"}]
    cookie = await seed_session(legacy, clock, user_id=None, demo=True, industry="banking", data={"messages": said})
    migrator = migrator_for(legacy, manager, clock)
    await migrator.run()
    record = json.loads(cast(bytes, await legacy.get(f"demo:session:{cookie}")))
    record["data"]["messages"] += [{"role": "assistant", "content": "welcome"}]
    await legacy.set(f"demo:session:{cookie}", json.dumps(record), ex=3600)

    assert (await migrator.run()).updated == 1

    adopted = await manager.adopt_legacy(cookie)
    assert adopted is not None
    assert [m.content for m in await manager.get_messages(adopted.token)] == ["hello", "welcome"]


@pytest.mark.parametrize(
    ("walkthrough", "reason"),
    [
        ({"progress": {"step": 6, "total": 5}}, "its demo walk-through cannot be kept: progress needs total >= 1"),
        ({"progress": "half"}, "its demo progress is a str, not {step, total} or a percentage"),
        ({"status": "¡done!"}, "its demo walk-through cannot be kept: status must be 1-32 characters"),
        ({"industry": ""}, "its demo walk-through cannot be kept: industry must be a non-blank str"),
        ({"messages": {"role": "user"}}, "its messages are a dict, not a list"),
        ({"messages": [{"role": "user"}]}, "its message 1 has no role or content text"),
    ],
)
async def test_a_demo_walkthrough_that_cannot_be_kept_is_reported(
    legacy: Redis, manager: SessionManager, clock: FakeClock, walkthrough: dict[str, Any], reason: str
) -> None:
    await seed_session(legacy, clock, user_id=None, demo=True, **walkthrough)

    report = await migrator_for(legacy, manager, clock).run()

    [invalid] = report.invalid
    assert invalid.reason.startswith(reason)
