"""sessionhub's sync integrations against the peers of each framework, side by side in one run.

    python bench/frameworks.py [--requests 1000] [--rounds 5] [--quick] [--out FILE]

Starts its own redis-server on a free loopback port and stops it at the end. Every contender serves the same
three views (sign in with the typical payload, untimed; read one key; increment a counter) through its framework's
test client, one browser with its cookie jar:

- Flask: sessionhub's interface (the default `from_settings` stack, client cache on and off) against Flask-Session's
  Redis interface.
- Django: sessionhub's engine (likewise) against Django's `cache` engine on Redis (django.core.cache's RedisCache)
  and `cached_db` (SQLite behind the same cache).
- The sync API: `SyncSessionManager.get` (cache on and off) against a raw redis-py sync GET loop of the same
  stored size, and the async manager's `get` on its own loop, for the sync layer's overhead in microseconds.

Flask's and Django's signed-cookie sessions (no store at all) show what the framework itself costs per request,
the floor under every store. Contenders run interleaved, round after round; each ratio is the median over the
rounds of contender / peer in the same round, with its min-max. CPU is microseconds per request: the client
process (`time.process_time`) and redis-server (`INFO cpu`), which move much less with machine load than
wall-clock rates. Goals (issue 15): at least 1.0x the peer with the client cache off and 2x with it on.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis_servers import RedisServer

from bench.workload import typical_payload
from sessionhub import SessionManager, Settings
from sessionhub.sync import SyncSessionManager

Request = Callable[[], None]
"""One timed request of a scenario, made by a contender's browser."""


@dataclass
class Contender:
    name: str
    browser: Callable[[], dict[str, Request]]
    """Signs a new browser in (untimed) and gives its requests by scenario: "read-only", "modifying"."""


@dataclass
class Figures:
    rates: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    redis_cpu: list[float] = field(default_factory=list)


def redis_cpu_seconds(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(contenders: list[Contender], admin: redis.Redis, requests: int, rounds: int) -> dict[str, Figures]:
    """{"<contender>/<scenario>": Figures}, every contender run once per round, in turn."""
    results: dict[str, Figures] = {}
    for _ in range(rounds):
        for contender in contenders:
            scenarios = contender.browser()
            for scenario, request in scenarios.items():
                for _ in range(min(50, requests)):  # warm: scripts loaded, caches filled, connections open
                    request()
                started, cpu, server = time.perf_counter(), time.process_time(), redis_cpu_seconds(admin)
                for _ in range(requests):
                    request()
                elapsed = time.perf_counter() - started
                figures = results.setdefault(f"{contender.name}/{scenario}", Figures())
                figures.rates.append(requests / elapsed)
                figures.client_cpu.append((time.process_time() - cpu) / requests * 1e6)
                figures.redis_cpu.append((redis_cpu_seconds(admin) - server) / requests * 1e6)
    return results


def ratio(results: dict[str, Figures], contender: str, peer: str) -> tuple[float, float, float]:
    """Median, min and max over the rounds of contender / peer in the same round."""
    ratios = [a / b for a, b in zip(results[contender].rates, results[peer].rates, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


# -- Flask ----------------------------------------------------------------------------------------------------------


def flask_app(install: Callable[[Any], None]) -> Any:
    from flask import Flask, session

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "bench"
    install(app)
    counter = [0]

    @app.get("/login")
    def sign_in() -> str:
        counter[0] += 1
        session.update(typical_payload(counter[0]))
        return "ok"

    @app.get("/read")
    def read() -> str:
        return str(session["user_id"])

    @app.get("/write")
    def write() -> str:
        session["counter"] = int(session.get("counter", 0)) + 1
        return str(session["counter"])

    return app


def scenarios(client: Any) -> dict[str, Request]:
    """The timed requests of a framework's test client (Flask's or Django's), signed in first."""
    assert client.get("/login").status_code == 200

    def read() -> None:
        assert client.get("/read").status_code == 200

    def write() -> None:
        assert client.get("/write").status_code == 200

    return {"read-only": read, "modifying": write}


def flask_browser(app: Any) -> Callable[[], dict[str, Request]]:
    return lambda: scenarios(app.test_client())


def flask_contenders(url: str, managers: dict[str, SyncSessionManager]) -> list[Contender]:
    from flask_session import Session as FlaskSessionExtension

    from sessionhub.flask import SessionHub

    def flask_session(app: Any) -> None:
        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(url), SESSION_KEY_PREFIX="fs:")
        FlaskSessionExtension(app)

    contenders = [
        Contender("Flask-Session (Redis)", flask_browser(flask_app(flask_session))),
        # Flask's built-in signed-cookie session: no store at all, the framework's own cost per request.
        Contender("Flask signed cookie", flask_browser(flask_app(lambda app: None))),
    ]
    for label, sessions in managers.items():
        app = flask_app(lambda app, sessions=sessions: SessionHub(app, sessions=sessions))  # type: ignore[misc]
        contenders.append(Contender(f"sessionhub Flask ({label})", flask_browser(app)))
    return contenders


# -- Django ---------------------------------------------------------------------------------------------------------


def configure_django(url: str) -> None:
    import django
    from django.conf import settings

    database = Path(tempfile.mkdtemp()) / "sessions.sqlite3"
    settings.configure(
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.sessions"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}},
        SESSION_ENGINE="sessionhub.django",
        USE_TZ=True,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def _django_views() -> list[Any]:
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    counter = [0]

    def sign_in(request: HttpRequest) -> HttpResponse:
        counter[0] += 1
        request.session.update(typical_payload(counter[0]))
        return HttpResponse("ok")

    def read(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(request.session["user_id"]))

    def write(request: HttpRequest) -> HttpResponse:
        request.session["counter"] = int(request.session.get("counter", 0)) + 1
        return HttpResponse(str(request.session["counter"]))

    return [path("login", sign_in), path("read", read), path("write", write)]


urlpatterns: list[Any] = []


def django_contenders(managers: dict[str, SyncSessionManager]) -> list[Contender]:
    from django.test import Client, override_settings

    from sessionhub.django import use_sessions

    urlpatterns[:] = _django_views()

    def browser_for(engine: str, sessions: SyncSessionManager | None = None) -> Callable[[], dict[str, Request]]:
        def browser() -> dict[str, Request]:
            if sessions is not None:
                use_sessions(sessions)
            with override_settings(SESSION_ENGINE=engine):
                # The client's handler loads the middleware, and the engine, on its first request: the sign-in.
                return scenarios(Client())

        return browser

    contenders = [
        Contender("Django cache (Redis)", browser_for("django.contrib.sessions.backends.cache")),
        Contender("Django cached_db", browser_for("django.contrib.sessions.backends.cached_db")),
        # No store at all: the framework's own cost per request.
        Contender("Django signed cookies", browser_for("django.contrib.sessions.backends.signed_cookies")),
    ]
    for label, sessions in managers.items():
        contenders.append(Contender(f"sessionhub Django ({label})", browser_for("sessionhub.django", sessions)))
    return contenders


# -- the sync API ---------------------------------------------------------------------------------------------------


def sync_api_contenders(url: str, managers: dict[str, SyncSessionManager]) -> list[Contender]:
    raw = redis.Redis.from_url(url)

    def raw_get() -> dict[str, Request]:
        raw.set("bench:raw", b"x" * 400)

        def get() -> None:
            assert raw.get("bench:raw") is not None

        return {"get": get}

    contenders = [Contender("redis-py sync GET", raw_get)]
    for label, sessions in managers.items():

        def sync_get(sessions: SyncSessionManager = sessions) -> dict[str, Request]:
            token = sessions.create(user_id="bench", data=typical_payload(1)).token

            def get() -> None:
                assert sessions.get(token) is not None

            return {"get": get}

        contenders.append(Contender(f"SyncSessionManager.get ({label})", sync_get))
    return contenders


def async_get_microseconds(settings: Settings, reads: int) -> float:
    """Wall microseconds per `SessionManager.get` awaited in a loop on one task: the async cost the sync API adds to."""

    async def run() -> float:
        async with SessionManager.from_settings(settings) as manager:
            token = (await manager.create(user_id="bench", data=typical_payload(1))).token
            for _ in range(50):
                await manager.get(token)
            started = time.perf_counter()
            for _ in range(reads):
                await manager.get(token)
            return (time.perf_counter() - started) / reads * 1e6

    return asyncio.run(run())


# -- the report -----------------------------------------------------------------------------------------------------


def report(sections: list[tuple[str, str, list[str], dict[str, Figures]]], extra: list[str]) -> str:
    lines = ["# sessionhub's sync integrations against their peers", ""]
    for title, peer, names, results in sections:
        lines += [
            f"## {title}",
            "",
            f"Ratios against **{peer}** in the same round: median (min-max) over the rounds.",
            "",
        ]
        lines += [
            "| contender | scenario | req/s | ratio | client CPU µs/req | Redis CPU µs/req | goal |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in names:
            for key in sorted(key for key in results if key.startswith(f"{name}/")):
                scenario = key.split("/", 1)[1]
                figures = results[key]
                median, low, high = ratio(results, key, f"{peer}/{scenario}")
                goal = ""
                if name.startswith(("sessionhub", "SyncSessionManager")):
                    wanted = 2.0 if "cache on" in name else 1.0
                    goal = f"≥ {wanted:g}x: {'met' if median >= wanted else 'not met'}"
                rate, client, server = (
                    statistics.median(values) for values in (figures.rates, figures.client_cpu, figures.redis_cpu)
                )
                lines.append(
                    f"| {name} | {scenario} | {rate:,.0f} | {median:.2f}x ({low:.2f}-{high:.2f}) "
                    f"| {client:.0f} | {server:.1f} | {goal} |"
                )
        lines.append("")
    return "\n".join([*lines, *extra, ""])


@contextmanager
def bench_redis() -> Iterator[RedisServer]:
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


def main(requests: int, rounds: int, out: Path | None) -> None:
    with bench_redis() as server:
        admin = redis.Redis.from_url(server.url)
        managers = {
            label: SyncSessionManager.from_settings(
                Settings(redis_url=server.url, key_prefix=f"bench-{cache}", redis_client_cache=cache)
            )
            for label, cache in (("cache on", 10_000), ("cache off", 0))
        }
        configure_django(server.url)
        try:
            flask = flask_contenders(server.url, managers)
            django_ = django_contenders(managers)
            sync_api = sync_api_contenders(server.url, managers)
            django_results = measure(django_, admin, requests, rounds)
            ours = [c.name for c in django_ if c.name.startswith("sessionhub")]
            sections = [
                ("Flask", flask[0].name, [c.name for c in flask], measure(flask, admin, requests, rounds)),
                (
                    "Django, against the cache engine on Redis",
                    django_[0].name,
                    [c.name for c in django_],
                    django_results,
                ),
                ("Django, against cached_db", django_[1].name, ours, django_results),
                (
                    "The sync API",
                    sync_api[0].name,
                    [c.name for c in sync_api],
                    measure(sync_api, admin, requests, rounds),
                ),
            ]
            overhead = []
            for label, cache in (("cache on", 10_000), ("cache off", 0)):
                async_us = async_get_microseconds(
                    Settings(redis_url=server.url, key_prefix=f"bench-async-{cache}", redis_client_cache=cache),
                    requests,
                )
                sync_figures = sections[-1][3][f"SyncSessionManager.get ({label})/get"]
                sync_us = 1e6 / statistics.median(sync_figures.rates)
                overhead.append(f"{label}: the sync `get` takes {sync_us:.1f} µs, the async one {async_us:.1f} µs "
                                f"on its own loop ({sync_us - async_us:+.1f} µs)")  # fmt: skip
            extra = [
                "Sync layer overhead, " + "; ".join(overhead) + ". A read the client cache answers is served in the "
                "calling thread; any other call crosses to the manager's loop thread and back.",
                "",
                f"{requests} requests per contender and scenario, {rounds} rounds interleaved.",
            ]
        finally:
            for sessions in managers.values():
                sessions.close()
    text = report(sections, extra)
    print(text)
    if out is not None:
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI: few requests, two rounds")
    parser.add_argument("--out", type=Path, default=None, help="also write the report (markdown) here")
    arguments = parser.parse_args()
    if arguments.requests < 1 or arguments.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")
    if arguments.quick:
        arguments.requests, arguments.rounds = 60, 2
    main(arguments.requests, arguments.rounds, arguments.out)
