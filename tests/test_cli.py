"""The `sessionhub` command through typer's CliRunner, against real redis-servers (and memory where it means
something): JSON for scripts, tables for people, clear errors and exit codes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import orjson
import pytest
import redis
from typer.testing import CliRunner

from sessionhub import SessionManager, Settings
from sessionhub.backends import RedisBackend
from sessionhub.cli import app
from sessionhub.cli.migrate import Serialization, SourceKind, build_source
from sessionhub.codecs import TYPED_JSON
from tests.support.redis_servers import RedisServer, free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def cli(redis_server: RedisServer, key_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Invoke the CLI against the suite's redis-server, under this test's key prefix. The CLI sets up its process's
    logging (to the runner's stderr); the loggers are put back afterwards, for the tests that follow."""
    for variable in ("TESTING", "SESSIONHUB_TESTING", "SESSIONHUB_REDIS_URL"):
        monkeypatch.delenv(variable, raising=False)
    runner = CliRunner()
    loggers = [logging.getLogger(name) for name in ("sessionhub", "uvicorn", "uvicorn.access")]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        environment = {"REDIS_URL": redis_server.url, "SESSIONHUB_KEY_PREFIX": key_prefix, **(env or {})}
        return runner.invoke(app, list(args), env=environment, catch_exceptions=False)

    yield invoke
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def on_store(redis_server: RedisServer, key_prefix: str, work: Any) -> Any:
    async def run() -> Any:
        backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix)
        async with SessionManager(backend, Settings(key_prefix=key_prefix)) as manager:
            return await work(manager)

    return asyncio.run(run())


def create(redis_server: RedisServer, key_prefix: str, user: str | None, **data: Any) -> str:
    async def work(manager: SessionManager) -> str:
        return (await manager.create(user_id=user, data=data)).id

    result: str = on_store(redis_server, key_prefix, work)
    return result


def test_health_and_stats_for_scripts(cli: Any, redis_server: RedisServer, key_prefix: str) -> None:
    create(redis_server, key_prefix, "ann")
    create(redis_server, key_prefix, None)

    health = cli("health", "--json")
    stats = cli("stats", "--json")

    assert health.exit_code == 0
    assert json.loads(health.stdout)["status"] == "ok"
    assert stats.exit_code == 0
    assert json.loads(stats.stdout)["active_sessions"] == 2
    assert "active sessions" in cli("stats").stdout


def test_unreachable_redis_is_a_clear_error_not_a_traceback(cli: Any) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"

    health = cli("health", "--json", env={"REDIS_URL": down})
    stats = cli("stats", env={"REDIS_URL": down})

    assert health.exit_code == 1
    assert json.loads(health.stdout)["status"] == "down"
    assert stats.exit_code == 3
    assert "the session store is unavailable: redis cannot be reached" in stats.stderr
    assert "Traceback" not in stats.output


@pytest.mark.parametrize("command", [["stats"], ["health"], ["sessions", "list", "--user", "amira"]])
def test_without_a_store_admin_commands_refuse_unless_told_memory(cli: Any, command: list[str]) -> None:
    """An admin command on an empty memory store used to say "ok: memory" or "revoked 0" and exit 0."""
    refused = cli(*command, env={"REDIS_URL": ""})
    assert refused.exit_code == 3
    assert "no session store: set REDIS_URL" in refused.stderr
    assert cli(*command, env={"REDIS_URL": "", "TESTING": "1"}).exit_code == 3

    result = cli("--memory", *command, env={"REDIS_URL": ""})
    assert result.exit_code == 0
    assert "empty memory store" in result.stderr


@pytest.mark.parametrize(
    ("query_or_scheme", "said"),
    [
        ("?socket_timeout=abc", "invalid redis URL option: Invalid value for 'socket_timeout'"),
        ("?bogus=1", "unknown redis URL option(s) ['bogus']"),
        ("/99", "redis has no such database"),
        ("redis+sentinel://", "not a Sentinel"),
        ("redis+cluster://", "not in cluster mode"),
    ],
)
def test_a_bad_redis_url_gets_a_clear_error_and_no_traceback(
    cli: Any, redis_server: RedisServer, query_or_scheme: str, said: str
) -> None:
    address = f"{redis_server.host}:{redis_server.port}"
    if query_or_scheme.endswith("://"):
        url = f"{query_or_scheme}:secret@{address}" + ("/sessions" if "sentinel" in query_or_scheme else "")
    else:
        url = (
            f"redis://:secret@{address}/0{query_or_scheme}"
            if query_or_scheme.startswith("?")
            else (f"redis://:secret@{address}{query_or_scheme}")
        )
    result = cli("--redis-url", url, "stats")
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert "secret" not in result.output


def test_stats_speak_in_units_and_show_prints_data_as_json(
    cli: Any, redis_server: RedisServer, key_prefix: str
) -> None:
    session_id = create(redis_server, key_prefix, "ida", cart=["ink"], seen=True)
    stats = " ".join(cli("stats").stdout.split())
    assert "session ttl │ 1 d" in stats
    assert "absolute ttl │ 7 d" in stats
    assert "86400" not in stats
    shown = " ".join(cli("sessions", "show", session_id, "--data").stdout.split())
    assert '{"cart":["ink"],"seen":true}' in shown


def test_show_prints_typed_data_as_the_json_it_is_stored_as(
    cli: Any, redis_server: RedisServer, key_prefix: str
) -> None:
    async def work(manager: SessionManager) -> str:
        typed = SessionManager(manager.backend, manager.settings, codec=TYPED_JSON)
        return (await typed.create(data={"tags": {"b", "a"}, "on": date(2026, 1, 2)})).id

    session_id = on_store(redis_server, key_prefix, work)
    shown = cli("sessions", "show", session_id, "--data", "--json", env={"SESSIONHUB_DATA_CODEC": "typed-json"})

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["data"] == {"tags": {"$set": ["a", "b"]}, "on": {"$date": "2026-01-02"}}


def test_invalid_settings_exit_2_naming_the_variable(cli: Any) -> None:
    result = cli("stats", env={"SESSIONHUB_KEY_PREFIX": "bad prefix{}"})

    assert result.exit_code == 2
    assert "key_prefix (SESSIONHUB_KEY_PREFIX)" in result.stderr


def test_list_and_show_sessions(cli: Any, redis_server: RedisServer, key_prefix: str) -> None:
    first = create(redis_server, key_prefix, "bea", cart=["ink"])
    second = create(redis_server, key_prefix, "bea")

    listed = cli("sessions", "list", "--user", "bea", "--json")
    shown = cli("sessions", "show", first, "--json")
    with_data = cli("sessions", "show", first, "--data", "--json")
    table = cli("sessions", "list", "--user", "bea")

    assert listed.exit_code == 0
    assert {entry["id"] for entry in json.loads(listed.stdout)["sessions"]} == {first, second}
    assert json.loads(shown.stdout)["data_keys"] == ["cart"]
    assert json.loads(shown.stdout)["authenticated_at"] == json.loads(shown.stdout)["created_at"]  # signed in then
    assert "data" not in json.loads(shown.stdout), "values only with --data: they may be personal"
    assert json.loads(with_data.stdout)["data"] == {"cart": ["ink"]}
    assert "sessions of bea (2)" in table.stdout
    assert first in table.stdout


def test_show_does_not_extend_the_session(cli: Any, redis_server: RedisServer, key_prefix: str) -> None:
    session_id = create(redis_server, key_prefix, "cid")
    client = redis.Redis.from_url(redis_server.url)
    key = f"{key_prefix}:{{{session_id[:2]}}}:s:{session_id[2:]}"
    deadline_before = client.hget(key, "e")
    ttl_before = client.pttl(key)

    assert cli("sessions", "show", session_id).exit_code == 0

    assert client.hget(key, "e") == deadline_before
    assert client.pttl(key) <= ttl_before
    client.close()


def test_show_errors(cli: Any) -> None:
    malformed = cli("sessions", "show", "not-an-id")
    unknown = cli("sessions", "show", "ab" + "0" * 32)

    assert malformed.exit_code == 2
    assert "not a session id" in malformed.stderr
    assert unknown.exit_code == 1
    assert "no live session" in unknown.stderr


def test_revoke_one_or_all_of_a_user(cli: Any, redis_server: RedisServer, key_prefix: str) -> None:
    keep = create(redis_server, key_prefix, "dan")
    gone = create(redis_server, key_prefix, "dan")
    other = create(redis_server, key_prefix, "eve")

    one = cli("sessions", "revoke", "--id", gone, "--json")
    again = cli("sessions", "revoke", "--id", gone)
    everyone = cli("sessions", "revoke", "--user", "dan")

    assert (one.exit_code, json.loads(one.stdout)) == (0, {"revoked": 1})
    assert again.exit_code == 1
    assert "revoked 0 sessions" in again.stdout
    assert (everyone.exit_code, everyone.stdout.strip()) == (0, "revoked 1 session")
    listed = json.loads(cli("sessions", "list", "--user", "eve", "--json").stdout)["sessions"]
    assert [entry["id"] for entry in listed] == [other]
    assert json.loads(cli("sessions", "list", "--user", "dan", "--json").stdout)["sessions"] == []
    assert keep != gone


@pytest.mark.parametrize("args", [[], ["--id", "ab" + "0" * 32, "--user", "x"], ["--id", "nope"]])
def test_revoke_usage_errors(cli: Any, args: list[str]) -> None:
    result = cli("sessions", "revoke", *args)

    assert result.exit_code == 2


def test_security_events_show_admin_revocations(cli: Any, redis_server: RedisServer, key_prefix: str) -> None:
    first = create(redis_server, key_prefix, "fay")
    second = create(redis_server, key_prefix, "fay")
    cli("sessions", "revoke", "--id", first, "--reason", "ticket 7")
    cli("sessions", "revoke", "--user", "fay")

    log = json.loads(cli("sessions", "events", "--user", "fay", "--json").stdout)
    table = cli("sessions", "events", "--user", "fay", "--limit", "2")

    assert [(e["type"], e["session_id"], e["reason"], e["actor"]) for e in log] == [
        ("revoked", second, "sign_out_everywhere", "admin"),
        ("revoked", first, "ticket 7", "admin"),
        ("created", second, None, "user"),
        ("created", first, None, "user"),
    ]
    assert table.exit_code == 0
    assert "security events of fay (2)" in table.stdout
    assert "ticket 7" in table.stdout
    assert cli("sessions", "events", "--user", "fay", "--limit", "0").exit_code == 2


# -- migrate ----------------------------------------------------------------------------------------------------


def test_the_flask_signer_key_comes_from_the_environment_only(
    cli: Any, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = cli("migrate", "flask-session", "--source-url", redis_server.url, "--secret-key-env", "NO_SUCH_KEY")
    assert unset.exit_code == 2
    assert "NO_SUCH_KEY (--secret-key-env) is not set" in " ".join(unset.stderr.split())
    wrong = cli("migrate", "starsessions", "--source-url", redis_server.url, "--secret-key-env", "FLASK_KEY")
    assert wrong.exit_code == 2
    assert "applies to flask-session (SESSION_USE_SIGNER) and django-db only" in " ".join(wrong.stderr.split())
    source = build_source(SourceKind.flask_session, None, None, Serialization.msgpack, [], "user", None)
    assert source.cookie_value("abcdefgh") == "abcdefgh"
    monkeypatch.setenv("FLASK_KEY", "s3cret")
    signed = build_source(SourceKind.flask_session, None, None, Serialization.msgpack, [], "user", "FLASK_KEY")
    assert signed.cookie_value("abcdefgh").startswith("abcdefgh.")
    assert "s3cret" not in signed.describe()  # the checkpoint names the source, never its key


@pytest.fixture
def legacy_store() -> Iterator[tuple[RedisServer, redis.Redis]]:
    server = RedisServer.start()
    client = redis.Redis.from_url(server.url)
    yield server, client
    client.close()
    server.stop()


def seed(client: redis.Redis, count: int, *, user: str = "fia") -> list[str]:
    cookies = []
    for _ in range(count):
        cookie = secrets.token_urlsafe(24)
        record = {"user_id": user, "created_at": "2026-11-01T10:00:00", "data": {"lang": "fi"}}
        client.set(f"session:{cookie}", orjson.dumps(record), ex=3600)
        client.sadd(f"user_sessions:{user}", cookie)
        cookies.append(cookie)
    return cookies


def test_a_migration_that_finds_no_key_warns_and_fails_unless_allowed(
    cli: Any, legacy_store: tuple[RedisServer, redis.Redis]
) -> None:
    server, client = legacy_store
    seed(client, 2)
    typo = cli("migrate", "starsessions", "--source-url", server.url, "--prefix", "startsessions.")
    assert typo.exit_code == 1
    assert "no key under startsessions. in the legacy store" in " ".join(typo.stderr.split())
    allowed = cli("migrate", "starsessions", "--source-url", server.url, "--prefix", "startsessions.", "--allow-empty")
    assert allowed.exit_code == 0, allowed.output


def test_migrate_seeds_verify_and_delete_source(
    cli: Any, legacy_store: tuple[RedisServer, redis.Redis], redis_server: RedisServer, key_prefix: str
) -> None:
    server, legacy = legacy_store
    cookies = seed(legacy, 12)

    dry = cli("migrate", "seeds", "--source-url", server.url, "--dry-run", "--json")
    assert dry.exit_code == 0
    assert json.loads(dry.stdout)["migration"]["migrated"] == 12
    assert json.loads(cli("stats", "--json").stdout)["active_sessions"] == 0

    result = cli("migrate", "seeds", "--source-url", server.url, "--batch-size", "5", "--delete-source", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["migration"]["migrated"] == 12
    assert report["verify"]["ok"] is True
    assert report["delete_source"]["deleted"] == 12
    assert legacy.dbsize() == 0

    async def adopt_all(manager: SessionManager) -> list[str | None]:
        return [getattr(await manager.adopt_legacy(cookie), "user_id", None) for cookie in cookies]

    assert on_store(redis_server, key_prefix, adopt_all) == ["fia"] * 12


def test_migrate_resumes_after_a_stop_and_shows_progress_and_summary(
    cli: Any, legacy_store: tuple[RedisServer, redis.Redis]
) -> None:
    server, legacy = legacy_store
    seed(legacy, 30)
    legacy.set("session:" + secrets.token_hex(16), b"\x00not json", ex=600)

    stopped = cli("migrate", "seeds", "--source-url", server.url, "--batch-size", "4", "--max-batches", "2")
    resumed = cli("migrate", "seeds", "--source-url", server.url, "--batch-size", "4", "--json")

    assert "run the same command again to resume" in stopped.stdout
    assert "migrating" in stopped.stderr, "the progress bar goes to stderr"
    assert "of ~32 keys" in stopped.stderr, "out of the legacy database's size (31 sessions and a user index)"
    assert "ETA" in stopped.stderr
    report = json.loads(resumed.stdout)
    assert report["migration"]["resumed"] is True
    assert report["migration"]["migrated"] + report["migration"]["already_migrated"] == 30
    [invalid] = report["migration"]["invalid"]
    assert invalid["reason"] == "value is not valid JSON"
    assert invalid["hint"].startswith("9 bytes, TTL ")
    assert " sha1 " in invalid["hint"]
    assert report["verify"]["ok"] is True
    assert resumed.exit_code == 1

    table = cli("migrate", "seeds", "--source-url", server.url)
    assert "already migrated" in table.stdout
    assert "invalid records" in table.stdout
    assert "(9 bytes, TTL " in table.stdout, "named with a hint to find it by"
    assert "verification" in table.stdout
    assert "passed" in table.stdout


def test_migrate_usage_errors(cli: Any, legacy_store: tuple[RedisServer, redis.Redis]) -> None:
    server, _ = legacy_store

    both = cli("migrate", "seeds", "--source-url", server.url, "--dry-run", "--delete-source")
    seeds_kind = cli("migrate", "seeds", "--source-url", server.url, "--kind", "web")
    no_prefix = cli("migrate", "json", "--source-url", server.url)
    bad_field = cli("migrate", "json", "--source-url", server.url, "--prefix", "p:", "--field", "colour=c")
    memory = cli("migrate", "seeds", "--source-url", server.url, env={"TESTING": "1"})
    no_source = cli("migrate", "starsessions", "--source-url", f"redis://127.0.0.1:{free_port()}/0")

    assert (both.exit_code, no_prefix.exit_code, bad_field.exit_code, memory.exit_code) == (2, 2, 2, 2)
    assert seeds_kind.exit_code == 2
    assert "--kind do not apply" in seeds_kind.stderr
    assert "needs --prefix" in no_prefix.stderr
    assert "FIELD one of" in bad_field.stderr
    assert "needs sessionhub's Redis" in memory.stderr
    assert no_source.exit_code == 3
    assert "Traceback" not in no_source.output


def test_migrate_library_stores_through_the_command(
    cli: Any, legacy_store: tuple[RedisServer, redis.Redis], redis_server: RedisServer, key_prefix: str
) -> None:
    server, legacy = legacy_store
    star_cookie, flask_cookie = secrets.token_hex(16), secrets.token_urlsafe(32)
    metadata = {"lifetime": 3600, "created": 1_790_000_000.5, "last_access": 1_790_000_100.0}
    legacy.set(f"app.{star_cookie}", orjson.dumps({"uid": "gus", "__metadata__": metadata}), ex=3600)
    legacy.set(f"fs:{flask_cookie}", orjson.dumps({"_permanent": True, "uid": "hal"}), ex=3600)

    star = cli("migrate", "starsessions", "--source-url", server.url, "--prefix", "app.", "--user-key", "uid", "--json")
    flask = cli(
        "migrate", "flask-session", "--source-url", server.url, "--prefix", "fs:", "--user-key", "uid",
        "--serialization", "json", "--json",
    )  # fmt: skip

    assert (star.exit_code, flask.exit_code) == (0, 0)
    assert json.loads(star.stdout)["migration"]["migrated"] == 1
    assert json.loads(flask.stdout)["migration"]["migrated"] == 1
    [gus] = json.loads(cli("sessions", "list", "--user", "gus", "--json").stdout)["sessions"]
    assert gus["created_at"].startswith("2026-09-21")
    assert gus["data_keys"] == ["uid"]

    async def adopt(manager: SessionManager) -> list[str | None]:
        return [getattr(await manager.adopt_legacy(cookie), "user_id", None) for cookie in (star_cookie, flask_cookie)]

    assert on_store(redis_server, key_prefix, adopt) == ["gus", "hal"]


def test_every_session_a_page_at_a_time_with_filters(cli: Any, redis_server: RedisServer, key_prefix: str) -> None:
    users = {create(redis_server, key_prefix, f"user{i}") for i in range(5)}
    visitors = {create(redis_server, key_prefix, None) for _ in range(3)}

    seen: list[str] = []
    after: list[str] = []
    for _ in range(10):
        page = json.loads(cli("sessions", "list", "--limit", "3", *after, "--json").stdout)
        seen += [entry["id"] for entry in page["sessions"]]
        if page["next_after"] is None:
            break
        after = ["--after", page["next_after"]]
    assert seen == sorted(users | visitors)  # every session once, by id, over three pages

    signed_in = json.loads(cli("sessions", "list", "--kind", "user", "--json").stdout)["sessions"]
    assert {entry["id"] for entry in signed_in} == users | visitors  # both are of kind "user"
    assert json.loads(cli("sessions", "list", "--kind", "demo", "--json").stdout)["sessions"] == []
    idle = json.loads(cli("sessions", "list", "--idle-over", "3600", "--json").stdout)["sessions"]
    assert idle == []  # all just made
    table = cli("sessions", "list", "--limit", "2")
    assert "more: --after" in table.stdout
    assert cli("sessions", "list", "--after", "not-an-id").exit_code == 2


def test_revoking_every_session_needs_yes(cli: Any, redis_server: RedisServer, key_prefix: str) -> None:
    for i in range(4):
        create(redis_server, key_prefix, f"user{i % 2}")
    create(redis_server, key_prefix, None)

    refused = cli("sessions", "revoke", "--all")
    assert refused.exit_code == 2
    assert "add --yes" in refused.stderr
    assert json.loads(cli("stats", "--json").stdout)["active_sessions"] == 5

    done = cli("sessions", "revoke", "--all", "--yes", "--reason", "incident 42", "--json")
    assert json.loads(done.stdout) == {"revoked": 5}
    assert json.loads(cli("stats", "--json").stdout)["active_sessions"] == 0
    [event, *_] = json.loads(cli("sessions", "events", "--user", "user0", "--json").stdout)
    assert (event["type"], event["actor"], event["reason"]) == ("revoked", "admin", "incident 42")


def test_migrate_follow_keeps_sessionhub_in_step_until_interrupted(
    legacy_store: tuple[RedisServer, redis.Redis], redis_server: RedisServer, key_prefix: str, tmp_path: Any
) -> None:
    """A real `sessionhub migrate --follow` process re-syncs while the legacy app keeps writing, and stops cleanly
    on SIGINT with a line per pass."""
    server, legacy = legacy_store
    changed, signed_out, *_ = seed(legacy, 4)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("TESTING", "SESSIONHUB_TESTING", "SESSIONHUB_REDIS_URL")},
        "REDIS_URL": redis_server.url,
        "SESSIONHUB_KEY_PREFIX": key_prefix,
    }
    command = [sys.executable, "-m", "sessionhub.cli", "migrate", "seeds", "--source-url", server.url, "--follow"]
    log = tmp_path / "follow.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([*command, "--interval", "0.2"], env=env, stdout=subprocess.PIPE, stderr=stderr)

    def passes() -> list[str]:
        return [line for line in log.read_text().splitlines() if line.startswith("pass ")]

    def wait_for_pass(count: int) -> str:
        deadline = time.monotonic() + 30
        while len(passes()) < count:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        return passes()[count - 1]

    try:
        assert "4 new" in wait_for_pass(1)
        record = orjson.loads(legacy.get(f"session:{changed}") or b"{}")
        legacy.set(f"session:{changed}", orjson.dumps({**record, "data": {"lang": "sv"}}), ex=3600)
        legacy.delete(f"session:{signed_out}")
        seen = len(passes())
        later = [wait_for_pass(n) for n in range(seen + 1, seen + 3)]
        assert any("1 updated, 1 ended" in line for line in later), later
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, log.read_text()
    assert "migration" in out.decode(), "the last pass's summary"

    async def adopt(manager: SessionManager) -> list[Any]:
        return [await manager.adopt_legacy(cookie) for cookie in (changed, signed_out)]

    brought_over, ended = on_store(redis_server, key_prefix, adopt)
    assert brought_over.data == {"lang": "sv"}
    assert ended is None
