"""Where and with what a run was measured: machine, versions, date."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("redis", "hiredis", "starlette", "starsessions", "orjson", "matplotlib")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git_commit() -> str:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return completed.stdout.strip()


def machine() -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": _memory_total(),
        "OS": f"{platform.system()} {platform.release()}",
    }


def load_average() -> str:
    """The 1-minute load average: other work on the machine makes every figure of the run noisier."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def versions(redis_server_version: str) -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "redis-server": redis_server_version,
        "sessionhub": f"{_package_version('sessionhub', 'source tree')} at commit {_git_commit()}",
    }
    found.update({name: _package_version(name) for name in PACKAGES})
    return found


def _package_version(name: str, missing: str = "not installed") -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return missing


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
