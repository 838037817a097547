"""The demo app served for real: uvicorn on a free loopback port in a background thread, and a headless chromium."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from playwright.sync_api import Browser, Playwright, sync_playwright

from sessionhub import SessionManager, Settings
from sessionhub.backends import MemoryBackend, RedisBackend
from sessionhub.demo.app import create_app
from tests.support.redis_servers import RedisServer, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 15.0
CHART_SAMPLE_SECONDS = 0.5


class DemoServer:
    """The app on a SessionManager, served by uvicorn until `stop` (which waits for a clean shutdown)."""

    def __init__(self, manager: SessionManager) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Samples for the operator page's charts twice a second, so a test sees them move.
        app = create_app(manager, sample_every=CHART_SAMPLE_SECONDS)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"demo-{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the demo server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(START_TIMEOUT)


@pytest.fixture(params=["memory", "redis"])
def demo_server(request: pytest.FixtureRequest, key_prefix: str) -> Iterator[DemoServer]:
    settings = Settings(key_prefix=key_prefix, max_sessions_per_user=5)
    if request.param == "memory":
        backend: MemoryBackend | RedisBackend = MemoryBackend()
    else:
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        backend = RedisBackend.from_url(redis_server.url, key_prefix=key_prefix)
    server = DemoServer(SessionManager(backend, settings))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Module-scoped: Playwright's sync API runs an event loop of its own, which must be gone before the asyncio
    tests of other modules start theirs."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()
