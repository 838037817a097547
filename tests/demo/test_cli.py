"""`sessionhub demo` as a user runs it: a separate process serving the app, on memory or on Redis via REDIS_URL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.redis_servers import RedisServer, free_port

pytestmark = pytest.mark.slow

SOURCE = Path(__file__).resolve().parents[2] / "src"
START_TIMEOUT = 20.0


@contextmanager
def demo_process(port: int, output: list[str] | None = None, **environment: str) -> Iterator[str]:
    """The demo served by `sessionhub demo` until the block ends; what it printed is appended to `output`."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "TESTING")}
    env |= {"PYTHONPATH": str(SOURCE), **environment}
    command = [sys.executable, "-m", "sessionhub.cli", "demo", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1.0)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sessionhub demo did not start: {process.communicate()[0]}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        printed, _ = process.communicate(timeout=10)
        if output is not None:
            output.append(printed)


def test_demo_serves_on_the_given_port_from_memory() -> None:
    with demo_process(free_port()) as url:
        assert "there is no password" in httpx.get(url).text
        numbers = httpx.get(f"{url}/operator.json").json()
    assert numbers["stats"]["backend"] == "memory"


def test_demo_uses_redis_when_redis_url_is_set(redis_server: RedisServer, key_prefix: str) -> None:
    with demo_process(free_port(), REDIS_URL=redis_server.url, SESSIONHUB_KEY_PREFIX=key_prefix) as url:
        with httpx.Client(base_url=url) as browser:
            csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/").text)
            assert csrf is not None
            signed_in = browser.post("/signin", data={"name": "amira", "csrf": csrf.group(1)})
        numbers = httpx.get(f"{url}/operator.json").json()
    assert signed_in.status_code == 303
    assert numbers["stats"]["backend"] == "resilient"  # Redis first, memory through outages: the default
    assert numbers["health"]["primary"]["backend"] == "redis"
    assert numbers["stats"]["active_sessions"] == 1


def test_demo_help_names_its_options() -> None:
    env = {**os.environ, "PYTHONPATH": str(SOURCE)}
    shown = subprocess.run(
        [sys.executable, "-m", "sessionhub.cli", "demo", "--help"], env=env, capture_output=True, text=True, check=True
    )
    assert "--host" in shown.stdout
    assert "--port" in shown.stdout


def test_demo_logs_json_lines_with_structured_fields_and_no_tokens() -> None:
    output: list[str] = []
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    environment = {
        "REDIS_URL": unreachable,
        "SESSIONHUB_REDIS_START_IN_MEMORY": "true",
        "SESSIONHUB_LOG_FORMAT": "json",
    }
    with demo_process(free_port(), output, **environment) as url, httpx.Client(base_url=url) as browser:
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/").text)
        assert csrf is not None
        assert browser.post("/signin", data={"name": "amira", "csrf": csrf.group(1)}).status_code == 303
        token = browser.cookies["session_token"]

    [printed] = output
    lines = [line for line in printed.splitlines() if not line.startswith("sessionhub demo on ")]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= records[0].keys()
    [outage] = [record for record in records if record.get("event") == "store_unavailable"]
    assert outage["logger"].partition(".")[0] == "sessionhub"
    assert outage["backend"] == "redis"
    assert not outage["message"].startswith("sessionhub:")
    assert any(record["logger"] == "uvicorn.access" and "/signin" in record["message"] for record in records)
    assert token not in printed
