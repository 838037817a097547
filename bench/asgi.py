"""In-process ASGI requests: browsers that call an app directly, and the contenders' timed request loops.

No HTTP client and no server sit in between, so the session middleware's cost dominates what is measured.
Each browser keeps the cookies it is given and sends them back on its next requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from starlette.types import ASGIApp, Message

from bench.context import BenchContext
from bench.timing import Throughput, fastest_run, measure
from bench.workload import Scenario

Storage = Literal["none", "cookie", "memory", "redis"]

AppFactory = Callable[[BenchContext], AbstractAsyncContextManager[ASGIApp]]
"""Builds a contender's app on entry and releases what it holds (clients, connections) on exit."""


@dataclass(frozen=True)
class Contender:
    name: str
    """Short identifier used on the command line and as the ratio baseline, e.g. ``starsessions-redis``."""
    label: str
    build: AppFactory
    storage: Storage
    """Where sessions live; ratios compare a contender with the reference peer of the same storage."""

    @property
    def has_session(self) -> bool:
        """False for the bare app: its responses are not checked and it has no session memory to measure."""
        return self.storage != "none"

    @property
    def uses_redis(self) -> bool:
        return self.storage == "redis"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class BrowserError(AssertionError):
    """A contender answered wrongly, so its figures would measure something else than the scenario."""


def _is_expired(attributes: list[str]) -> bool:
    for attribute in attributes:
        name, _, value = attribute.strip().partition("=")
        name = name.lower()
        if name == "max-age" and value.strip().lstrip("-").isdigit() and int(value) <= 0:
            return True
        if name == "expires":
            try:
                expires = parsedate_to_datetime(value.strip())
            except (TypeError, ValueError):
                continue
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            if expires <= datetime.now(UTC):
                return True
    return False


class Browser:
    """One client with its own cookie jar, calling the ASGI app in-process."""

    def __init__(self, app: ASGIApp, number: int) -> None:
        self.app = app
        self.client = ("127.0.0.1", 20000 + number)
        self.cookies: dict[str, str] = {}

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    async def get(self, target: str) -> Response:
        path, _, query = target.partition("?")
        headers = [(b"host", b"bench.local"), (b"user-agent", b"sessionhub-bench")]
        if self.cookies:
            headers.append((b"cookie", self.cookie_header().encode("latin-1")))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": self.client,
            "server": ("bench.local", 80),
        }
        response_complete = asyncio.Event()
        request_delivered = False
        status = 0
        response_headers: list[tuple[bytes, bytes]] = []
        body = bytearray()

        async def receive() -> Message:
            nonlocal request_delivered
            if not request_delivered:
                request_delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            # Like a server: the client only "disconnects" once the response is out.
            await response_complete.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    response_complete.set()

        await self.app(scope, receive, send)
        self._keep_cookies(response_headers)
        return Response(status=status, body=bytes(body))

    def _keep_cookies(self, headers: list[tuple[bytes, bytes]]) -> None:
        for name, value in headers:
            if name.lower() != b"set-cookie":
                continue
            pair, *attributes = value.decode("latin-1").split(";")
            cookie_name, _, cookie_value = pair.strip().partition("=")
            if _is_expired(attributes):
                self.cookies.pop(cookie_name, None)
            else:
                self.cookies[cookie_name] = cookie_value


@dataclass(frozen=True)
class RequestResult:
    contender: str
    scenario: str
    concurrency: int
    throughput: Throughput
    round_trips_per_request: float
    commands_per_request: dict[str, float]


async def sign_in(browsers: list[Browser], expect_cookie: bool) -> None:
    """Give every browser its own session (user number = browser index + 1), concurrently, untimed."""

    async def sign_in_one(user: int, browser: Browser) -> None:
        response = await browser.get(f"/login?user={user}")
        if response.status != 200 or (expect_cookie and not browser.cookies):
            raise BrowserError(f"sign-in failed: status {response.status}, cookies {sorted(browser.cookies)}")

    await asyncio.gather(*(sign_in_one(index + 1, browser) for index, browser in enumerate(browsers)))


async def run_scenario(
    ctx: BenchContext,
    contender: Contender,
    app: ASGIApp,
    scenario: Scenario,
    concurrency: int,
    requests: int,
    repeats: int,
    time_budget_s: float,
) -> RequestResult:
    """``requests`` requests (rounded up to a multiple of ``concurrency``) from as many signed-in browsers.

    Every response is checked, so a contender cannot be fast by losing its session; round trips and server
    commands are counted over all repeats.
    """
    browsers = [Browser(app, number) for number in range(concurrency)]
    await sign_in(browsers, expect_cookie=contender.has_session)
    sent = [0] * concurrency

    async def step(worker: int, _index: int) -> None:
        sent[worker] += 1
        response = await browsers[worker].get(scenario.path)
        if response.status != 200:
            raise BrowserError(f"{contender.name} {scenario.path}: status {response.status}")
        if contender.has_session and response.body != scenario.expected_body(worker + 1, sent[worker]):
            raise BrowserError(f"{contender.name} {scenario.path}: unexpected body {response.body!r}")

    per_worker = -(-requests // concurrency)
    # Warm-up: connection pools fill, lazy imports and caches settle.
    await measure(step, concurrency, max(1, min(per_worker // 10, 50)))
    round_trips_before = ctx.round_trips.count
    commands_before = await ctx.command_calls()
    runs = [await measure(step, concurrency, per_worker, time_budget_s) for _ in range(repeats)]
    total = sum(run.count for run in runs)
    commands = await ctx.command_calls()
    commands.subtract(commands_before)
    return RequestResult(
        contender=contender.name,
        scenario=scenario.name,
        concurrency=concurrency,
        throughput=fastest_run(runs),
        round_trips_per_request=(ctx.round_trips.count - round_trips_before) / total,
        commands_per_request={name: calls / total for name, calls in (+commands).items()},
    )
