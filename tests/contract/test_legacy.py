"""Legacy sessions, the contract on every backend: import, aliases, one-time adoption, and the admin peek."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from sessionhub import ClientInfo, SessionDataError, SessionManager, Settings
from sessionhub.backends import RedisBackend
from sessionhub.backends.base import ImportOutcome
from sessionhub.legacy import LegacySession, legacy_alias_id, migrated_session_id
from sessionhub.tokens import bucket_for_user, session_id_for
from tests.support.clock import FakeClock
from tests.support.managers import store_of
from tests.support.redis_servers import RedisServer

IDLE = 600
ABSOLUTE = 3600


def legacy(token: str, clock: FakeClock, *, remaining: float | None = 300, **fields: Any) -> LegacySession:
    now = int(clock() * 1000)
    fields.setdefault("user_id", "alice")
    fields.setdefault("kind", "user")
    fields.setdefault("data", {"cart": ["papyrus"], "theme": "dark"})
    alias_id = legacy_alias_id(token)
    assert alias_id is not None
    expires = now + int(remaining * 1000) if remaining is not None else None
    return LegacySession(alias_id=alias_id, expires_at=expires, **fields)


async def migrate(manager: SessionManager, *sessions: LegacySession) -> list[ImportOutcome]:
    prepared = [manager.prepare_import(session) for session in sessions]
    assert all(item is not None for item in prepared)
    return await manager.import_sessions([item for item in prepared if item is not None])


async def statuses(manager: SessionManager, *session_ids: str) -> list[str | None]:
    return [marker.status if marker else None for marker in await manager.import_markers(session_ids)]


async def test_the_legacy_cookie_adopts_its_session_once_under_a_new_token(
    manager: SessionManager, clock: FakeClock
) -> None:
    old_cookie = secrets.token_hex(16)
    client = ClientInfo(ip="198.51.100.4", user_agent="legacy browser")
    assert await migrate(manager, legacy(old_cookie, clock, client=client)) == ["new"]

    adopted = await manager.adopt_legacy(old_cookie)

    assert adopted is not None
    assert adopted.token is not None
    assert (adopted.user_id, adopted.kind, adopted.client) == ("alice", "user", client)
    assert adopted.data == {"cart": ["papyrus"], "theme": "dark"}
    assert adopted.id == session_id_for(adopted.token)
    again = await manager.get(adopted.token)
    assert again is not None
    assert again.data == adopted.data
    assert await manager.adopt_legacy(old_cookie) is None, "an alias works once"
    assert [s.id for s in await manager.list_user_sessions("alice")] == [adopted.id]
    assert await statuses(manager, migrated_session_id(legacy_alias_id(old_cookie) or "", "alice")) == ["adopted"]


async def test_importing_again_never_duplicates_nor_revives(manager: SessionManager, clock: FakeClock) -> None:
    first, second = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    assert await migrate(manager, legacy(first, clock), legacy(second, clock)) == ["new", "new"]
    assert await migrate(manager, legacy(first, clock), legacy(second, clock)) == ["unchanged", "unchanged"]
    assert len(await manager.list_user_sessions("alice")) == 2

    adopted = await manager.adopt_legacy(first)
    assert adopted is not None
    await manager.revoke(migrated_session_id(legacy_alias_id(second) or "", "alice"))

    assert await migrate(manager, legacy(first, clock), legacy(second, clock)) == ["unchanged", "unchanged"]
    assert [s.id for s in await manager.list_user_sessions("alice")] == [adopted.id]
    assert await manager.adopt_legacy(second) is None, "a revoked migrated session stays revoked"


async def test_status_of_imports(manager: SessionManager, clock: FakeClock) -> None:
    pending, ended, adopted = (secrets.token_hex(16) for _ in range(3))
    await migrate(manager, *(legacy(token, clock, user_id=None) for token in (pending, ended, adopted)))
    await manager.revoke(migrated_session_id(legacy_alias_id(ended) or "", None))
    assert await manager.adopt_legacy(adopted) is not None
    ids = [migrated_session_id(legacy_alias_id(token) or "", None) for token in (pending, ended, adopted, "x" * 20)]

    assert await statuses(manager, *ids) == ["pending", "ended", "adopted", None]


async def test_remaining_lifetime_is_kept_and_then_ends(manager: SessionManager, clock: FakeClock) -> None:
    cookie = secrets.token_hex(16)
    await migrate(manager, legacy(cookie, clock, remaining=100))
    session_id = migrated_session_id(legacy_alias_id(cookie) or "", "alice")
    peeked = await manager.peek(session_id)
    assert peeked is not None
    assert peeked.expires_at - peeked.last_active_at <= timedelta(seconds=100)

    clock.advance(101)

    assert await manager.adopt_legacy(cookie) is None
    assert await statuses(manager, session_id) == ["ended"]


async def test_a_long_legacy_lifetime_is_kept_beyond_the_absolute_timeout(
    manager: SessionManager, clock: FakeClock
) -> None:
    cookie = secrets.token_hex(16)
    await migrate(manager, legacy(cookie, clock, remaining=30 * 86_400))
    clock.advance(20 * 86_400)

    adopted = await manager.adopt_legacy(cookie)

    assert adopted is not None
    # Adopted, it follows sessionhub's idle timeout from now on.
    clock.advance(IDLE + 1)
    assert await manager.get(adopted.token) is None


async def test_a_legacy_session_without_expiry_gets_the_idle_timeout(manager: SessionManager, clock: FakeClock) -> None:
    cookie = secrets.token_hex(16)
    await migrate(manager, legacy(cookie, clock, remaining=None, created_at=int(clock() * 1000) - 10_000_000))
    clock.advance(IDLE - 1)
    assert await manager.adopt_legacy(cookie) is not None


async def test_expired_legacy_sessions_are_not_prepared(manager: SessionManager, clock: FakeClock) -> None:
    assert manager.prepare_import(legacy(secrets.token_hex(16), clock, remaining=-1)) is None
    assert manager.prepare_import(legacy(secrets.token_hex(16), clock, remaining=0.5)) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"data": {"when": object()}}, "cannot be stored as json"),
        ({"data": {"big": "x" * 70_000}}, "over the limit"),
        ({"user_id": ""}, "user_id"),
        ({"kind": "Demo Session"}, "kind"),
    ],
)
async def test_unstorable_legacy_sessions_raise_before_anything_is_written(
    manager: SessionManager, clock: FakeClock, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(SessionDataError, match=message):
        manager.prepare_import(legacy(secrets.token_hex(16), clock, **fields))
    assert (await manager.stats())["active_sessions"] == 0


async def test_sessions_of_a_user_go_to_the_users_bucket_anonymous_ones_to_the_aliases(
    manager: SessionManager, clock: FakeClock
) -> None:
    cookie = secrets.token_hex(16)
    signed_in = manager.prepare_import(legacy(cookie, clock, user_id="bob"))
    anonymous = manager.prepare_import(legacy(cookie, clock, user_id=None))
    assert signed_in is not None
    assert anonymous is not None
    assert signed_in.record.id[:2] == bucket_for_user("bob")
    assert anonymous.record.id[:2] == anonymous.alias_id[:2]


@pytest.mark.parametrize("cookie", [None, "", "short", "a b c d e f g h", "é" * 20, "x" * 513, 42, b"0123456789"])
async def test_malformed_legacy_cookies_are_no_session(manager: SessionManager, cookie: Any) -> None:
    assert await manager.adopt_legacy(cookie) is None


async def test_a_concurrent_second_adoption_gets_nothing(manager: SessionManager, clock: FakeClock) -> None:
    cookie = secrets.token_hex(16)
    await migrate(manager, legacy(cookie, clock))
    session_id = await store_of(manager).resolve_alias(legacy_alias_id(cookie) or "", int(clock() * 1000))
    assert session_id is not None
    first = await manager.adopt_legacy(cookie)
    # A request that resolved the alias before the first adoption finished, adopting only now:
    late_id = session_id[:2] + "0" * 32  # the contract: a new id in the same bucket (one slot on Redis Cluster)
    late = await store_of(manager).adopt(legacy_alias_id(cookie) or "", session_id, late_id, int(clock() * 1000))

    assert first is not None
    assert late is None


async def test_peek_reads_without_sliding_the_idle_deadline(manager: SessionManager, clock: FakeClock) -> None:
    created = await manager.create(user_id="alice", data={"n": 1})
    clock.advance(IDLE - 10)

    peeked = await manager.peek(created.id)

    assert peeked is not None
    assert peeked.token is None
    assert peeked.expires_at == created.expires_at
    assert peeked.data == {"n": 1}
    clock.advance(11)
    assert await manager.peek(created.id) is None
    assert await manager.peek("not an id") is None


async def test_adopt_legacy_cookies_for_the_integrations(manager: SessionManager, clock: FakeClock) -> None:
    cookie = secrets.token_hex(16)
    await migrate(manager, legacy(cookie, clock))
    cookies = {"flask_session": "never-migrated-value", "legacy_sid": cookie, "other": "x"}

    session, to_clear = await manager.adopt_legacy_cookies(cookies, ["flask_session", "legacy_sid", "absent"])

    assert session is not None
    assert session.user_id == "alice"
    assert to_clear == ["flask_session", "legacy_sid"]
    assert await manager.adopt_legacy_cookies({"other": "x"}, ["legacy_sid"]) == (None, [])


@pytest.mark.redis
async def test_redis_holds_no_legacy_cookie_value_and_aliases_expire_with_the_session(
    redis_server: RedisServer, clock: FakeClock, key_prefix: str
) -> None:
    backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix)
    async with SessionManager(backend, Settings(key_prefix=key_prefix), clock=clock) as manager:
        await _check_redis_layout(manager, backend, clock, key_prefix)


async def _check_redis_layout(
    manager: SessionManager, backend: RedisBackend, clock: FakeClock, key_prefix: str
) -> None:
    cookie = secrets.token_hex(16)
    await migrate(manager, legacy(cookie, clock, remaining=300))
    client: Any = backend.client  # replies are bytes (decode_responses is off); redis-py types them loosely
    keys = [key async for key in client.scan_iter(match=f"{key_prefix}:*")]
    dump = b"".join(keys)
    for key in keys:
        if await client.type(key) == b"string":
            dump += await client.get(key)
        elif await client.type(key) == b"hash":
            dump += b"".join(b"".join(pair) for pair in (await client.hgetall(key)).items())
    assert cookie.encode() not in dump
    alias_key = backend.keys.legacy_alias(legacy_alias_id(cookie) or "")
    assert 290_000 < await client.pttl(alias_key) <= 300_000
    assert await manager.adopt_legacy(cookie) is not None
    assert await client.exists(alias_key) == 0


def test_legacy_cookie_names_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from sessionhub import ConfigurationError, Settings

    monkeypatch.setenv("SESSIONHUB_LEGACY_COOKIE_NAMES", " session, starsessions_id ,")
    assert Settings().legacy_cookie_names == ("session", "starsessions_id")
    assert Settings(legacy_cookie_names=["sid"]).legacy_cookie_names == ("sid",)
    monkeypatch.setenv("SESSIONHUB_LEGACY_COOKIE_NAMES", "bad name;")
    with pytest.raises(ConfigurationError, match="legacy_cookie_names"):
        Settings()


async def test_a_changed_source_record_replaces_a_session_still_waiting_for_its_browser(
    manager: SessionManager, clock: FakeClock
) -> None:
    cookie = secrets.token_hex(16)
    assert await migrate(manager, legacy(cookie, clock, source_digest="v1")) == ["new"]
    session_id = migrated_session_id(legacy_alias_id(cookie) or "", "alice")

    changed = legacy(cookie, clock, source_digest="v2", data={"cart": ["papyrus", "ink"]})
    assert await migrate(manager, changed) == ["updated"]
    assert await migrate(manager, changed) == ["unchanged"]

    peeked = await manager.peek(session_id)
    assert peeked is not None
    assert dict(peeked.data) == {"cart": ["papyrus", "ink"]}, "a key the source no longer has is gone"
    assert [marker.source_digest if marker else None for marker in await manager.import_markers([session_id])] == ["v2"]
    adopted = await manager.adopt_legacy(cookie)
    assert adopted is not None
    assert dict(adopted.data) == {"cart": ["papyrus", "ink"]}
    assert len(await manager.list_user_sessions("alice")) == 1


async def test_a_source_change_after_adoption_or_revocation_is_a_conflict_that_writes_nothing(
    manager: SessionManager, clock: FakeClock
) -> None:
    adopted_cookie, revoked_cookie = secrets.token_hex(16), secrets.token_hex(16)
    await migrate(manager, legacy(adopted_cookie, clock, source_digest="v1"), legacy(revoked_cookie, clock))
    adopted = await manager.adopt_legacy(adopted_cookie)
    assert adopted is not None
    assert adopted.token is not None
    adopted.data["theme"] = "light"
    await manager.save(adopted)
    await manager.revoke(migrated_session_id(legacy_alias_id(revoked_cookie) or "", "alice"))

    outcomes = await migrate(
        manager,
        legacy(adopted_cookie, clock, source_digest="v2", data={"cart": []}),
        legacy(revoked_cookie, clock, source_digest="v2"),
        legacy(adopted_cookie, clock, source_digest="v1", data={"cart": []}),
    )

    assert outcomes == ["conflict_adopted", "conflict_ended", "unchanged"]
    current = await manager.get(adopted.token)
    assert current is not None
    assert current.data == {"cart": ["papyrus"], "theme": "light"}, "sessionhub's copy wins"
    assert [s.id for s in await manager.list_user_sessions("alice")] == [adopted.id], "a revoked session stays ended"
    assert await manager.adopt_legacy(revoked_cookie) is None


async def test_an_unchanged_source_record_that_lives_longer_extends_a_waiting_session(
    manager: SessionManager, clock: FakeClock
) -> None:
    """The legacy application slides its own expiry while its user is active there: a re-sync keeps the migrated
    copy alive as long, and never shortens it."""
    cookie = secrets.token_hex(16)
    await migrate(manager, legacy(cookie, clock, remaining=100))
    clock.advance(60)
    assert await migrate(manager, legacy(cookie, clock, remaining=300)) == ["unchanged"]
    assert await migrate(manager, legacy(cookie, clock, remaining=10)) == ["unchanged"]

    clock.advance(200)

    adopted = await manager.adopt_legacy(cookie)
    assert adopted is not None


@pytest.mark.redis
async def test_a_reimport_never_shortens_nor_revives_an_alias_in_redis(
    redis_server: RedisServer, clock: FakeClock, key_prefix: str
) -> None:
    backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix)
    async with SessionManager(backend, Settings(key_prefix=key_prefix), clock=clock) as manager:
        client: Any = backend.client
        waiting, adopted = secrets.token_hex(16), secrets.token_hex(16)
        await migrate(manager, legacy(waiting, clock, remaining=300), legacy(adopted, clock, remaining=300))
        assert await manager.adopt_legacy(adopted) is not None

        await migrate(manager, legacy(waiting, clock, remaining=10), legacy(adopted, clock, remaining=300))

        assert 290_000 < await client.pttl(backend.keys.legacy_alias(legacy_alias_id(waiting) or "")) <= 300_000
        assert await client.exists(backend.keys.legacy_alias(legacy_alias_id(adopted) or "")) == 0
