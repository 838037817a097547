"""Read-through: a legacy cookie whose session no migration has imported yet is read from the legacy store (written
by starsessions itself here), imported and adopted in the same request, through the middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from sessionhub import ConfigurationError, SessionManager, Settings
from sessionhub.migrate import FlaskSessionSource, Migrator, RedisReader, SeedsSource, StarsessionsSource
from sessionhub.migrate.read_through import LegacyReadThrough, parse_spec
from sessionhub.stack import build_legacy_fallback
from tests.migrate.conftest import seed_session
from tests.migrate.test_library_sources import sign_in_with_starsessions, starsessions_app
from tests.migrate.test_middleware_adoption import browser, cookie_header, new_value, sessionhub_app, set_cookies
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager
from tests.support.redis_servers import RedisServer, free_port


@pytest.fixture
async def read_through(legacy_server: RedisServer) -> AsyncIterator[LegacyReadThrough]:
    fallback = LegacyReadThrough.from_specs([f"starsessions+{legacy_server.url}?user_key=user_id"])
    yield fallback
    await fallback.close()


async def test_a_legacy_cookie_never_migrated_signs_in_through_the_legacy_store(
    legacy: Redis, make_manager: MakeManager, read_through: LegacyReadThrough, clock: FakeClock
) -> None:
    legacy_cookie = await sign_in_with_starsessions(starsessions_app(legacy, lifetime=1800), "ana")
    manager = await make_manager(legacy_cookie_names="session")
    manager.legacy_fallback = read_through
    app = sessionhub_app(manager)

    async with browser(app) as client:
        first = await client.get("/whoami", headers=cookie_header(session=legacy_cookie))
        cookies = set_cookies(first)
        assert first.json() == {"user": "ana", "data": {"user_id": "ana", "cart": ["lamp", "oil"]}}
        assert cookies["session"].startswith("session=; Path=/; Max-Age=0")
        second = await client.get("/whoami", headers=cookie_header(session_token=new_value(cookies["session_token"])))
        assert second.json()["user"] == "ana"

        replay = await client.get("/whoami", headers=cookie_header(session=legacy_cookie))
        unknown = await client.get("/whoami", headers=cookie_header(session="not-a-legacy-session-at-all"))
    assert replay.json()["user"] is None, "read through or migrated, a legacy cookie works once"
    assert unknown.json()["user"] is None
    assert await legacy.exists(f"starsessions.{legacy_cookie}") == 1, "the legacy store is only read"

    report = await Migrator(StarsessionsSource(user_key="user_id"), legacy, manager, clock=clock).run()
    assert (report.migrated, report.already_migrated) == (0, 1), "the bulk migration finds it imported"
    assert [s.user_id for s in await manager.list_user_sessions("ana")] == ["ana"]


async def test_a_legacy_store_that_is_down_means_no_session_not_an_error(
    legacy: Redis, make_manager: MakeManager, caplog: pytest.LogCaptureFixture
) -> None:
    legacy_cookie = await sign_in_with_starsessions(starsessions_app(legacy, lifetime=1800), "bob")
    manager = await make_manager(legacy_cookie_names="session")
    manager.legacy_fallback = LegacyReadThrough.from_specs([f"starsessions+redis://127.0.0.1:{free_port()}/0"])

    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        async with browser(sessionhub_app(manager)) as client:
            response = await client.get("/whoami", headers=cookie_header(session=legacy_cookie))

    assert response.status_code == 200
    assert response.json()["user"] is None
    assert "legacy store starsessions unreadable" in caplog.text
    assert legacy_cookie not in caplog.text


async def test_a_signed_flask_session_cookie_is_read_through_only_with_a_valid_signature(
    legacy: Redis, make_manager: MakeManager, legacy_server: RedisServer
) -> None:
    source = FlaskSessionSource(secret_key="legacy-secret", serialization="json")
    sid = "flask-session-id-0123456789"
    await legacy.set(f"session:{sid}", b'{"_permanent": true, "uid": "cy"}', ex=600)
    manager = await make_manager()
    manager.legacy_fallback = LegacyReadThrough([(source, RedisReader(Redis.from_url(legacy_server.url)))])

    forged = await manager.adopt_legacy(f"{sid}.forged-signature")
    bare = await manager.adopt_legacy(sid)
    signed = await manager.adopt_legacy(source.cookie_value(sid))

    assert (forged, bare) == (None, None)
    assert signed is not None
    assert dict(signed.data) == {"uid": "cy"}
    assert source.legacy_id(source.cookie_value(sid)) == sid


def test_legacy_stores_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SESSIONHUB_LEGACY_STORES", "starsessions+redis://h:1/2?prefix=app.&user_key=uid, seeds+redis://h"
    )
    settings = Settings()
    assert settings.legacy_stores == ("starsessions+redis://h:1/2?prefix=app.&user_key=uid", "seeds+redis://h")
    source, url = parse_spec(settings.legacy_stores[0])
    assert (source.describe(), url) == ("starsessions:app.=user;user_key=uid", "redis://h:1/2")
    assert build_legacy_fallback(Settings(legacy_stores=())) is None

    for spec, message in [
        ("redis://h", r"each legacy_stores entry is <source>\+<url>"),
        ("django-db+sqlite:///db.sqlite3", "django-db needs the project's SECRET_KEY"),
        ("json+redis://h?prefix=p", "each legacy_stores entry"),
        ("seeds+redis://:hunter2@h?colour=red", "unknown option 'colour'"),
        ("seeds+redis://h?prefix=x", "--prefix, --field and --kind do not apply"),
        ("flask-session+redis://h?serialization=pickle", "serialization is msgpack or json"),
        (
            "flask-session+redis://h?secret_key_env=NO_SUCH_VARIABLE",
            r"NO_SUCH_VARIABLE \(--secret-key-env\) is not set",
        ),
    ]:
        with pytest.raises(ConfigurationError, match=message) as raised:
            parse_spec(spec, environ={})
        assert "hunter2" not in str(raised.value)


async def test_from_settings_wires_the_read_through_and_closes_it(legacy_server: RedisServer) -> None:
    settings = Settings(testing=True, legacy_stores=[f"starsessions+{legacy_server.url}"])
    async with SessionManager.from_settings(settings) as manager:
        assert isinstance(manager.legacy_fallback, LegacyReadThrough)
        assert await manager.adopt_legacy("no-such-legacy-cookie-value") is None


async def test_a_seeds_record_is_read_through_only_when_it_names_its_user(
    legacy: Redis, make_manager: MakeManager, legacy_server: RedisServer, clock: FakeClock
) -> None:
    named = await seed_session(legacy, clock, user_id="dee")
    indexed_only = await seed_session(legacy, clock, user_id=None, index=False)
    await legacy.sadd("user_sessions:eve", indexed_only)
    manager = await make_manager()
    manager.legacy_fallback = LegacyReadThrough.from_specs([f"seeds+{legacy_server.url}"])

    read_through = await manager.adopt_legacy(named)
    waiting = await manager.adopt_legacy(indexed_only)
    await Migrator(SeedsSource(), legacy, manager, clock=clock).run()
    migrated = await manager.adopt_legacy(indexed_only)

    assert read_through is not None
    assert read_through.user_id == "dee"
    assert waiting is None, "read alone it would arrive signed out"
    assert migrated is not None
    assert migrated.user_id == "eve"
