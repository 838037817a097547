"""Every Python block of README.md and docs/*.md, as a reader would use it: it type-checks under `mypy --strict`
(as the reader's own code would be checked) and runs as a script, on a real Redis where it names one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from sessionhub import SessionManager
from tests.support.redis_servers import RedisServer

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
RUN_TIMEOUT = 60


def blocks() -> list[tuple[str, str]]:
    """(name, code) of every Python block, named by its document and position."""
    found = []
    for document in DOCUMENTS:
        for number, code in enumerate(BLOCK.findall(document.read_text(encoding="utf-8")), 1):
            found.append((f"{document.stem.lower().replace('-', '_')}_{number}", code))
    return found


BLOCKS = blocks()


def test_the_documents_have_python_blocks() -> None:
    names = [name for name, _ in BLOCKS]
    assert {"readme_1", "readme_2", "readme_3"} <= set(names), names


def test_every_block_passes_mypy_strict(tmp_path: Path) -> None:
    files = []
    for name, code in BLOCKS:
        path = tmp_path / f"{name}.py"
        path.write_text(code, encoding="utf-8")
        files.append(str(path))
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", os.devnull, "--no-incremental", *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_every_block_runs(name: str, code: str, tmp_path: Path, redis_server: RedisServer, key_prefix: str) -> None:
    script = tmp_path / f"{name}.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "REDIS_URL": redis_server.url, "SESSIONHUB_KEY_PREFIX": key_prefix}
    env.pop("TESTING", None)
    ran = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
        check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    runs_a_store = "asyncio.run(" in code or "with SyncSessionManager" in code  # not a block that only configures
    if runs_a_store and ("REDIS_URL" in code or "from_settings()" in code):
        # It used the Redis it was given, not memory: the sessions it made are gone, their user's log is not.
        client = redis.Redis.from_url(redis_server.url)
        assert any(client.scan_iter(match=f"{key_prefix}:*")), "the block left nothing in Redis: it ran on memory"


async def test_the_readme_fastapi_app_signs_in_and_answers(
    redis_server: RedisServer, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("SESSIONHUB_KEY_PREFIX", key_prefix)
    [code] = [code for name, code in BLOCKS if name.startswith("readme") and "FastAPI(" in code]
    namespace: dict[str, Any] = {"__name__": "readme_app"}
    exec(compile(code, "README.md", "exec"), namespace)  # the README's own code, as a reader imports it
    manager: SessionManager = namespace["manager"]
    transport = httpx.ASGITransport(app=namespace["app"])
    async with manager, httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/me")).status_code == 401
        assert (await client.post("/login")).status_code == 200
        assert (await client.get("/me")).json() == {"user": "amira"}
        assert manager.backend.name == "resilient"  # Redis first, as the settings say
        assert [s.user_id for s in await manager.list_user_sessions("amira")] == ["amira"]
