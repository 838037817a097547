"""Django's session stores, written by Django itself (a legacy Django project in its own process: the database
engine on SQLite and on a real PostgreSQL, the cache engine on Django's Redis cache), migrated with the CLI and by a
Migrator, then reached with the browser's old `sessionid` cookie: through sessionhub's middleware, through
read-through, and through a Django project that moved onto sessionhub's engine."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis.asyncio import Redis

from sessionhub.migrate import DjangoCacheSource, DjangoDatabaseSource, Migrator, RedisReader, open_reader
from tests.migrate.test_middleware_adoption import SessionhubApp
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager
from tests.support.postgres import PostgresServer
from tests.support.redis_servers import HOST, RedisServer
from tests.test_cli import cli as cli  # the fixture, for the CLI tests here

REPO = Path(__file__).resolve().parents[2]
SECRET = "the-legacy-projects-secret-key"
SECRET_ENV = {"LEGACY_DJANGO_KEY": SECRET}
JSON_CACHE = "django.core.signing.JSONSerializer"


def legacy_django(config: dict[str, Any], actions: list[list[Any]]) -> dict[str, str]:
    """Run the legacy Django project (tests/migrate/legacy_django.py) through these actions: each name's cookie."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.migrate.legacy_django", json.dumps({"secret_key": SECRET, **config})],
        input=json.dumps(actions),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cookies: dict[str, str] = json.loads(done.stdout)
    return cookies


@dataclass
class LegacyDatabase:
    """Where the legacy project keeps its sessions: Django's DATABASES entry and the URL sessionhub reads."""

    django: dict[str, Any]
    url: str

    def run(self, actions: list[list[Any]]) -> dict[str, str]:
        return legacy_django({"engine": "db", "database": self.django}, actions)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """A statement run on the legacy database, as another program would (placeholders: %s)."""
        if self.url.startswith("sqlite"):
            with sqlite3.connect(self.django["NAME"]) as connection:
                connection.execute(sql.replace("%s", "?"), params)
        else:
            with psycopg.connect(self.url, autocommit=True) as connection:
                connection.execute(sql, params)

    def keys(self) -> set[str]:
        if self.url.startswith("sqlite"):
            with sqlite3.connect(self.django["NAME"]) as connection:
                return {key for (key,) in connection.execute("SELECT session_key FROM django_session")}
        with psycopg.connect(self.url) as connection:
            return {key for (key,) in connection.execute("SELECT session_key FROM django_session")}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy_db(request: pytest.FixtureRequest, tmp_path: Path) -> LegacyDatabase:
    if request.param == "sqlite":
        path = tmp_path / "legacy.sqlite3"
        return LegacyDatabase({"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}, f"sqlite:///{path}")
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"legacy_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    engine = "django.db.backends.postgresql"
    return LegacyDatabase({"ENGINE": engine, "NAME": name, "USER": "postgres", "HOST": HOST, "PORT": server.port}, url)


@pytest.fixture
def now(clock: FakeClock) -> FakeClock:
    """The suite's clock at the real time: Django writes real expiry dates."""
    clock.now = time.time()
    return clock


@pytest.fixture
def sessionhub(redis_server: RedisServer, key_prefix: str) -> SessionhubApp:
    return SessionhubApp(redis_server.url, key_prefix, "sessionid")


SIGN_INS: list[list[Any]] = [["sign_in", "ana"], ["sign_in", "ben"], ["anonymous", "guest", {"theme": "dark"}]]


def test_database_sessions_migrate_with_the_cli_and_their_cookies_sign_in(
    legacy_db: LegacyDatabase, cli: Any, sessionhub: SessionhubApp
) -> None:
    cookies = legacy_db.run(SIGN_INS)

    migrated = cli("migrate", "django-db", "--source-url", legacy_db.url, "--secret-key-env", "LEGACY_DJANGO_KEY",
                   "--json", env=SECRET_ENV)  # fmt: skip

    assert migrated.exit_code == 0, migrated.output
    report = json.loads(migrated.stdout)
    assert (report["migration"]["migrated"], report["migration"]["invalid"]) == (3, [])
    assert report["verify"]["ok"] is True
    assert cookies["ana"] not in migrated.output
    ana = sessionhub.whoami(cookies["ana"])
    assert ana["user"] == ana["data"]["_auth_user_id"]
    assert ana["data"]["cart"] == ["lamp", "oil"]
    assert {"_auth_user_backend", "_auth_user_hash"} <= ana["data"].keys(), "Django's auth finds its keys"
    guest = sessionhub.whoami(cookies["guest"])
    assert guest == {"user": None, "data": {"theme": "dark"}}

    # The legacy project still serves: ben's cart changes, then a re-run brings it over.
    legacy_db.run([["write_key", cookies["ben"], {"cart": ["tea"]}]])
    resynced = json.loads(cli("migrate", "django-db", "--source-url", legacy_db.url, "--secret-key-env",
                              "LEGACY_DJANGO_KEY", "--json", env=SECRET_ENV).stdout)  # fmt: skip
    assert (resynced["migration"]["updated"], resynced["migration"]["already_migrated"]) == (1, 2)
    assert (sessionhub.whoami(cookies["ben"]))["data"]["cart"] == ["tea"]


async def test_delete_source_deletes_only_rows_unchanged_since_their_import(
    legacy_db: LegacyDatabase, make_manager: MakeManager, now: FakeClock
) -> None:
    cookies = legacy_db.run(SIGN_INS)
    manager = await make_manager()
    reader = open_reader("sql", legacy_db.url, timeout=5.0)
    migrator = Migrator(DjangoDatabaseSource(SECRET), reader, manager, clock=now)
    try:
        assert (await migrator.run()).migrated == 3
        verified = await migrator.verify()
        assert verified.ok
        ana_key = f"django_session:{cookies['ana']}".encode()
        [(_, _, _, imported_digest)] = await reader.read_keys([ana_key], int(now() * 1000))
        assert imported_digest is not None
        legacy_db.run([["write_key", cookies["ana"], {"cart": ["newer"]}]])  # after verify: the newer copy stays

        deleted = await migrator.delete_source(verified)
        # The compare-and-delete itself, as when the row changes between the pass's read and its delete.
        stale = await reader.delete_unchanged([(ana_key, imported_digest.decode())])
    finally:
        await reader.aclose()

    assert deleted.deleted == 2
    assert [entry.reason for entry in deleted.kept] == [
        "changed since its import: run the migration again to bring the change over, then delete"
    ]
    assert stale == [False]
    assert legacy_db.keys() == {cookies["ana"]}


async def test_rows_that_are_not_the_projects_are_reported_and_never_read(
    legacy_db: LegacyDatabase, make_manager: MakeManager, now: FakeClock
) -> None:
    cookies = legacy_db.run(SIGN_INS)
    legacy_db.execute(
        "UPDATE django_session SET session_data = session_data || 'x' WHERE session_key = %s", (cookies["ben"],)
    )
    legacy_db.execute(
        "UPDATE django_session SET expire_date = '2001-01-01 00:00:00+00' WHERE session_key = %s", (cookies["guest"],)
    )
    manager = await make_manager()

    for secret, invalid in ((SECRET, 1), ("another-projects-key", 2)):
        reader = open_reader("sql", legacy_db.url, timeout=5.0)
        try:
            report = await Migrator(DjangoDatabaseSource(secret), reader, manager, clock=now).run(dry_run=True)
        finally:
            await reader.aclose()
        assert (report.migrated, report.expired, len(report.invalid)) == (2 - invalid, 1, invalid)
        for entry in report.invalid:
            assert entry.reason == "its signature does not match the SECRET_KEY given (another key, or altered)"
            assert entry.ref.startswith("django_session:")
            assert all(cookie not in f"{entry.ref} {entry.hint}" for cookie in cookies.values())


async def test_read_through_reads_a_django_database(
    legacy_db: LegacyDatabase, make_manager: MakeManager, monkeypatch: pytest.MonkeyPatch, now: FakeClock
) -> None:
    cookies = legacy_db.run(SIGN_INS[:1])
    monkeypatch.setenv("LEGACY_DJANGO_KEY", SECRET)
    manager = await make_manager(legacy_stores=[f"django-db+{legacy_db.url}?secret_key_env=LEGACY_DJANGO_KEY"])
    from sessionhub.stack import build_legacy_fallback

    manager.legacy_fallback = build_legacy_fallback(manager.settings)
    assert manager.legacy_fallback is not None
    try:
        adopted = await manager.adopt_legacy(cookies["ana"])
        replayed = await manager.adopt_legacy(cookies["ana"])
    finally:
        await manager.legacy_fallback.close()
    assert adopted is not None
    assert adopted.data["cart"] == ["lamp", "oil"]
    assert adopted.user_id == adopted.data["_auth_user_id"]
    assert replayed is None, "a legacy cookie works once"


@pytest.mark.parametrize("serializer", [JSON_CACHE, None], ids=["json", "pickle"])
@pytest.mark.usefixtures("legacy")  # empty at the start
def test_cache_sessions_in_redis(
    serializer: str | None, legacy_server: RedisServer, cli: Any, sessionhub: SessionhubApp, tmp_path: Path
) -> None:
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "users.sqlite3")}
    config = {"engine": "cache", "database": database, "redis_url": legacy_server.url, "cache_serializer": serializer}
    cookies = legacy_django(config, SIGN_INS)

    migrated = cli("migrate", "django-cache", "--source-url", legacy_server.url, "--json")

    report = json.loads(migrated.stdout)["migration"]
    if serializer is None:  # Django's Redis cache pickles by default: reported, nothing loaded
        assert migrated.exit_code == 1
        assert (report["migrated"], len(report["invalid"])) == (0, 3)
        assert "pickled" in report["invalid"][0]["reason"]
        assert sessionhub.whoami(cookies["ana"]) == {"user": None, "data": {}}
        return
    assert migrated.exit_code == 0, migrated.output
    assert (report["migrated"], report["invalid"]) == (3, [])
    ana = sessionhub.whoami(cookies["ana"])
    assert ana["user"] == ana["data"]["_auth_user_id"]
    assert ana["data"]["cart"] == ["lamp", "oil"]
    assert (sessionhub.whoami(cookies["guest"]))["data"] == {"theme": "dark"}


def test_the_sources_read_their_own_kind_of_store(legacy: Redis) -> None:
    from sessionhub.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="reads a sql store, not a redis one"):
        Migrator(DjangoDatabaseSource(SECRET), RedisReader(legacy), None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="sqlite:/// or postgresql://"):
        open_reader("sql", "mysql://h/db", timeout=1.0)
    assert DjangoCacheSource().keyspaces[0].prefix == ":1:django.contrib.sessions.cache"
