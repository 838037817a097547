"""What `pip install sessionhub[...]` brings: the published extras hold what users need, never the project's own
test and bench tools (those are PEP 735 dependency groups, which scripts/_bootstrap installs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.support.redis_servers import RedisServer
from tests.test_docs import BLOCKS

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
TOOLS = {"pytest", "pytest-asyncio", "hypothesis", "playwright", "ruff", "mypy", "matplotlib", "starsessions"}


def names(requirements: list[str]) -> set[str]:
    """The project names of requirement lines ("redis[hiredis]>=5" -> "redis")."""
    return {match.group(0).lower() for line in requirements if (match := re.match(r"[A-Za-z0-9_.-]+", line))}


def test_extras_hold_no_test_or_bench_tools() -> None:
    extras: dict[str, list[str]] = PROJECT["project"]["optional-dependencies"]
    assert {"dev", "bench"}.isdisjoint(extras)
    for extra, requirements in extras.items():
        assert not names(requirements) & TOOLS, extra
    assert set(re.findall(r"\[(.*)\]", extras["all"][0])[0].split(",")) == set(extras) - {"all"}


def test_the_tools_are_dependency_groups_and_the_licence_ships() -> None:
    groups = PROJECT["dependency-groups"]
    assert {"pytest", "playwright", "mypy"} <= names(groups["dev"])
    assert "matplotlib" in names(groups["bench"])
    assert PROJECT["project"]["license"] == "MIT"
    assert PROJECT["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


INSTALL_TIMEOUT = 300


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
        cwd=cwd, env=env,
    )  # fmt: skip


def readme_extras() -> set[str]:
    """The extras the README's install commands name (the commands themselves, not their comments)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [
        line.split("#")[0]
        for block in re.findall(r"```bash\n(.*?)```", readme, re.DOTALL)
        for line in block.splitlines()
    ]
    return {
        extra
        for line in commands
        for group in re.findall(r'pip install "sessionhub\[([^\]]*)\]"', line)
        for extra in group.split(",")
    }


@pytest.mark.slow
def test_a_fresh_venv_with_the_readme_extras_runs_every_readme_block(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    """As a new user would: the built wheel, `pip install` with the extras the README's install commands name
    (redis, fastapi, flask) into a new virtualenv, and each Python block of the README run there as a script (never
    the checkout's src/)."""
    extras = readme_extras()
    assert {"redis", "fastapi"} <= extras
    built = run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", ROOT)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("sessionhub-*.whl")
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    python = venv / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--quiet", f"{wheel}[{','.join(sorted(extras))}]")
    assert installed.returncode == 0, installed.stderr
    assert run(python, "-c", "import pytest").returncode != 0, "the extras pulled in a test tool"

    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "TESTING", "VIRTUAL_ENV")}
    env |= {"REDIS_URL": redis_server.url, "SESSIONHUB_KEY_PREFIX": key_prefix}
    readme = [(name, code) for name, code in BLOCKS if name.startswith("readme_")]
    assert len(readme) >= 3
    for name, code in readme:
        script = tmp_path / f"{name}.py"
        script.write_text(code, encoding="utf-8")
        ran = run(python, script, cwd=tmp_path, env=env)
        assert ran.returncode == 0, f"{name}:\n{ran.stdout}{ran.stderr}"
        assert "Traceback" not in ran.stderr, name
    where = run(python, "-c", "import sessionhub; print(sessionhub.__file__)", cwd=tmp_path, env=env)
    assert str(venv) in where.stdout
