"""The documentation site (./scripts/docs: mkdocs with mkdocstrings): it builds without a warning, its API reference
is made from the docstrings of the public API, and its settings table from `Settings` itself."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sessionhub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT = 180


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def text_of(site: Path, page: str) -> str:
    markup = (site / page / "index.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


@pytest.mark.parametrize(
    ("page", "said"),
    [
        ("reference/manager", "Create, read, change, rotate and end sessions in one backend."),
        ("reference/manager", "reauthenticated"),
        ("reference/asgi", "Load the session named by the cookie before the handler"),
        ("reference/asgi", "require_recent_authentication"),
        ("reference/asgi", "Session-Token"),
        ("reference/stores", "MemoryBackend"),
        ("reference/codecs", "typed-json"),
        ("reference/observability", "JSONLinesFormatter"),
        ("reference/errors", "SessionDataError"),
    ],
)
def test_the_reference_is_made_from_the_docstrings(site: Path, page: str, said: str) -> None:
    assert said in text_of(site, page)


def test_the_settings_table_lists_every_setting_with_its_variable(site: Path) -> None:
    table = text_of(site, "reference/settings")
    for name in Settings.model_fields:
        assert f"{name} SESSIONHUB_{name.upper()}" in table, name
    assert "SESSION_TTL_SECONDS" in table


def test_the_guides_are_in_the_site(site: Path) -> None:
    for guide in sorted((ROOT / "docs").glob("*.md")):
        page = "" if guide.stem == "index" else guide.stem
        assert (site / page / "index.html").is_file(), guide.name
