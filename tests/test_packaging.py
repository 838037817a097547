"""What `pip install sessionhub[...]` brings: the published extras hold what users need, never the project's own
test and bench tools (those are PEP 735 dependency groups, which scripts/_bootstrap installs)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

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
