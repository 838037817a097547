"""Checks of the benchmark's own machinery: `python -m pytest bench/tests -q` (needs redis-server on PATH)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from starsessions import InMemoryStore

from bench import revocation_delay
from bench.__main__ import main
from bench.asgi import Browser, BrowserError, Contender, ScenarioLoop
from bench.context import BenchContext
from bench.peers import starsessions_app
from bench.redis_server import RedisServer
from bench.timing import interleave, measure, percentile
from bench.workload import SCENARIOS, session_app


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([7], 0.99) == 7


async def test_measure_counts_every_step_and_stops_at_the_time_budget() -> None:
    calls: list[tuple[int, int]] = []

    async def step(worker: int, index: int) -> None:
        calls.append((worker, index))
        await asyncio.sleep(0)

    full = await measure(step, workers=3, per_worker=4)
    assert full.count == 12
    assert sorted(calls) == [(w, i) for w in range(3) for i in range(4)]

    async def slow(_worker: int, _index: int) -> None:
        await asyncio.sleep(0.02)

    bounded = await measure(slow, workers=2, per_worker=1000, time_budget_s=0.05)
    assert 2 <= bounded.count < 20


async def test_browser_keeps_replaces_and_forgets_cookies() -> None:
    async def set_cookie(request: Request) -> PlainTextResponse:
        response = PlainTextResponse(request.headers.get("cookie", ""))
        response.headers.append("set-cookie", f"sid={request.query_params['v']}; Path=/; HttpOnly")
        return response

    async def expire_max_age(_request: Request) -> PlainTextResponse:
        response = PlainTextResponse("")
        response.headers.append("set-cookie", "sid=; Max-Age=0; Path=/")
        return response

    async def expire_date(_request: Request) -> PlainTextResponse:
        response = PlainTextResponse("")
        response.headers.append("set-cookie", "sid=''; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT")
        return response

    app = Starlette(routes=[Route("/set", set_cookie), Route("/max-age", expire_max_age), Route("/date", expire_date)])
    browser = Browser(app, 0)
    first = await browser.get("/set?v=a")
    assert (first.status, first.body, browser.cookies) == (200, b"", {"sid": "a"})
    second = await browser.get("/set?v=b")
    assert second.body == b"sid=a"
    assert browser.cookies == {"sid": "b"}
    await browser.get("/max-age")
    assert browser.cookies == {}
    await browser.get("/set?v=c")
    await browser.get("/date")
    assert browser.cookies == {}


@pytest.fixture
async def ctx() -> AsyncIterator[BenchContext]:
    with RedisServer() as server:
        context = BenchContext.create(server)
        yield context
        await context.aclose()


@pytest.mark.redis
async def test_counted_clients_count_round_trips_not_commands(ctx: BenchContext) -> None:
    client = ctx.connect()
    await client.ping()  # the connection handshake is not part of what is counted below
    before, calls_before = ctx.round_trips.count, await ctx.command_calls()
    await client.set("k", "v")
    async with client.pipeline(transaction=False) as pipe:
        for _ in range(3):
            pipe.get("k")
        await pipe.execute()
    calls = await ctx.command_calls()
    calls.subtract(calls_before)
    assert ctx.round_trips.count - before == 2
    assert +calls == {"set": 1, "get": 3}
    await client.aclose()
    await ctx.check_released("test")


class WriteOnceStore(InMemoryStore):
    """Keeps only the first write of each session: sign-in works, later changes are lost."""

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: int) -> str:
        self.data.setdefault(session_id, data)
        return session_id


@pytest.mark.redis
async def test_a_contender_that_loses_sessions_or_changes_fails_instead_of_looking_fast(
    ctx: BenchContext,
) -> None:
    async def forgetful(_request: Request) -> dict[str, object]:
        return {}  # a new session on every request, never sent back as a cookie

    @asynccontextmanager
    async def without_cookie(_ctx: BenchContext) -> AsyncIterator[ASGIApp]:
        yield session_app([], session_of=forgetful)

    @asynccontextmanager
    async def losing_changes(_ctx: BenchContext) -> AsyncIterator[ASGIApp]:
        yield starsessions_app(WriteOnceStore())

    read_only, modifying = SCENARIOS
    cases = [
        (without_cookie, read_only, "sign-in failed"),
        (losing_changes, modifying, "unexpected body b'1'"),
    ]
    for build, scenario, message in cases:
        contender = Contender("broken", "broken", build, "memory")
        async with contender.build(ctx) as app:
            with pytest.raises(BrowserError, match=message):
                await interleave([ScenarioLoop(ctx, contender, app, scenario, 2, 10, 5.0)], 1)


@pytest.mark.redis
def test_quick_run_writes_results_and_chart(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    results = (tmp_path / "RESULTS.md").read_text()
    for heading in (
        "## 1. Core operations",
        "## 2. In-process ASGI",
        "## 3. Redis round trips",
        "## 5. Scale",
    ):
        assert heading in results
    assert "| starsessions + RedisStore | 2.00 | get 1, set 1 | 2.00 | get 1, set 1 |" in results
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")


def test_revocation_delay_runs_and_reports_the_window(capsys: pytest.CaptureFixture[str]) -> None:
    revocation_delay.main(["--trials", "5"])
    report = capsys.readouterr().out
    assert "5 revocations" in report
    assert "worst" in report
