"""Smoke-run of the migration benchmark: it runs and every contender moves every session. No timing is judged."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "migrate_throughput.py"


@pytest.mark.redis
def test_migration_benchmark_smoke_run() -> None:
    spec = importlib.util.spec_from_file_location("migrate_throughput", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)

    results = module.main(["--sessions", "150", "--batch-size", "50", "--rounds", "1", "--one-by-one", "20"])

    assert [contender.name for contender in results] == [
        "floor: raw pipelined copy",
        "sessionhub migrate, batch 50",
        "sessionhub re-sync (source unchanged)",
        "sessionhub verify",
        "one by one (GET + create)",
    ]
    assert all(contender.rates and contender.median > 0 for contender in results)
