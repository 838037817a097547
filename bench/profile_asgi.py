"""Profile one ASGI contender's request path in-process: where a request's CPU time goes.

    PYTHONPATH=$PWD/src:$PWD python bench/profile_asgi.py [--contender sessionhub-memory] [--scenario read-only]
        [--requests 20000] [--profiler cprofile|pyinstrument|none] [--top 30]

The contender's app is built exactly as `python -m bench` builds it (its own context, a signed-in browser), then
called `--requests` times in a row by one browser, every response checked. `none` only times the loop (µs per
request), for a quick before/after; the profilers add their own overhead, so compare their shares, not their times.
Like `python -m bench`, it starts its own redis-server (any contender can be profiled) and stops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

from starlette.types import ASGIApp

from bench.asgi import Browser, BrowserError, Contender, sign_in
from bench.context import BenchContext
from bench.redis_server import RedisServer
from bench.registry import CONTENDERS
from bench.workload import SCENARIOS, Scenario


async def profile(contender_name: str, scenario_name: str, requests: int, profiler: str, top: int) -> None:
    contender = next(c for c in CONTENDERS if c.name == contender_name)
    scenario = next(s for s in SCENARIOS if s.name == scenario_name)
    with RedisServer() as server:
        ctx = BenchContext.create(server)
        try:
            async with contender.build(ctx) as app:
                await _profile_app(app, contender, scenario, requests, profiler, top)
        finally:
            await ctx.aclose()


async def _profile_app(
    app: ASGIApp, contender: Contender, scenario: Scenario, requests: int, profiler: str, top: int
) -> None:
    browser = Browser(app, 0)
    await sign_in([browser], expect_cookie=contender.has_session)

    async def loop(count: int, first: int) -> None:
        for sent in range(first, first + count):
            response = await browser.get(scenario.path)
            if contender.has_session and response.body != scenario.expected_body(1, sent):
                raise BrowserError(f"{contender.name}: unexpected body {response.body!r}")

    warm_up = 500  # caches settle, lazy imports happen
    await loop(warm_up, 1)
    started = time.perf_counter()
    if profiler == "cprofile":
        with cProfile.Profile() as cprofiler:
            await loop(requests, warm_up + 1)
        pstats.Stats(cprofiler).sort_stats("tottime").print_stats(top)
    elif profiler == "pyinstrument":
        from pyinstrument import Profiler

        with Profiler(interval=0.0001, async_mode="disabled") as sampler:
            await loop(requests, warm_up + 1)
        print(sampler.output_text(unicode=True, color=False))
    else:
        await loop(requests, warm_up + 1)
    elapsed = time.perf_counter() - started
    print(f"{contender.name} {scenario.name}: {elapsed / requests * 1e6:.1f} µs per request ({profiler})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contender", default="sessionhub-memory", choices=[c.name for c in CONTENDERS])
    parser.add_argument("--scenario", default="read-only", choices=[s.name for s in SCENARIOS])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--profiler", default="cprofile", choices=["cprofile", "pyinstrument", "none"])
    parser.add_argument("--top", type=int, default=30, help="functions listed by cProfile")
    args = parser.parse_args()
    asyncio.run(profile(args.contender, args.scenario, args.requests, args.profiler, args.top))


if __name__ == "__main__":
    main()
