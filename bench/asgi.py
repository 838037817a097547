"""In-process ASGI requests: browsers that call an app directly, and the contenders' timed request loops.

No HTTP client and no server sit in between, so the session middleware's cost dominates what is measured.
Each browser keeps the cookies it is given and sends them back on its next requests.
"""

from __future__ import annotations

import asyncio
from collections import Counter
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


class ScenarioLoop:
    """``requests`` requests (rounded up to a multiple of ``concurrency``) from as many signed-in browsers.

    Every response is checked, so a contender cannot be fast by losing its session; round trips and server
    commands are counted over all runs.
    """

    def __init__(
        self,
        ctx: BenchContext,
        contender: Contender,
        app: ASGIApp,
        scenario: Scenario,
        concurrency: int,
        requests: int,
        time_budget_s: float | None,
    ) -> None:
        self.ctx = ctx
        self.contender = contender
        self.scenario = scenario
        self.concurrency = concurrency
        self.per_worker = -(-requests // concurrency)
        self.time_budget_s = time_budget_s
        self.browsers = [Browser(app, number) for number in range(concurrency)]
        self.sent = [0] * concurrency
        self.runs: list[Throughput] = []
        self.round_trips = 0
        self.commands: Counter[str] = Counter()

    async def _step(self, worker: int, _index: int) -> None:
        self.sent[worker] += 1
        response = await self.browsers[worker].get(self.scenario.path)
        where = f"{self.contender.name} {self.scenario.path}"
        if response.status != 200:
            raise BrowserError(f"{where}: status {response.status}")
        expected = self.scenario.expected_body(worker + 1, self.sent[worker])
        if self.contender.has_session and response.body != expected:
            raise BrowserError(f"{where}: unexpected body {response.body!r}, expected {expected!r}")

    async def start(self) -> None:
        await sign_in(self.browsers, expect_cookie=self.contender.has_session)
        # Warm-up: connection pools fill, lazy imports and caches settle.
        await measure(self._step, self.concurrency, max(1, min(self.per_worker // 10, 50)))

    async def run(self) -> None:
        round_trips_before = self.ctx.round_trips.count
        commands_before = await self.ctx.command_calls()
        self.runs.append(await measure(self._step, self.concurrency, self.per_worker, self.time_budget_s))
        self.round_trips += self.ctx.round_trips.count - round_trips_before
        self.commands.update(await self.ctx.command_calls())
        self.commands.subtract(commands_before)

    def result(self) -> RequestResult:
        total = sum(run.count for run in self.runs)
        return RequestResult(
            contender=self.contender.name,
            scenario=self.scenario.name,
            concurrency=self.concurrency,
            throughput=fastest_run(self.runs),
            round_trips_per_request=self.round_trips / total,
            commands_per_request={name: calls / total for name, calls in (+self.commands).items()},
        )
