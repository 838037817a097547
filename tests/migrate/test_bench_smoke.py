"""Smoke-run of the migration benchmark: it runs and every contender moves every session. No timing is judged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "migrate_throughput.py"


@pytest.mark.redis
def test_migration_benchmark_smoke_run() -> None:
    spec = importlib.util.spec_from_file_location("migrate_throughput", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    results = module.main(["--sessions", "150", "--batch-sizes", "50", "--repeats", "1"])

    assert [name for name, _ in results] == [
        "floor: raw pipelined copy",
        "one by one (GET + create)",
        "sessionhub migrate, batch 50",
    ]
    assert all(rate > 0 for _, rate in results)
