"""The Grafana dashboard in docs/grafana/: valid to import, and every query names metrics and labels that
sessionhub.metrics really exports (scraped from a manager on Redis behind the outage fallback, which has them all)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sessionhub import ClientInfo, SessionManager, Settings
from sessionhub.metrics import SessionMetrics
from tests.support.redis_servers import RedisServer

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana" / "sessionhub.json"
METRIC = re.compile(r"\bsessionhub_[a-z_]+")
GROUPED = re.compile(r"by \(([^)]*)\) \(\w+\((sessionhub_[a-z_]+)")
MATCHER = re.compile(r"(sessionhub_[a-z_]+)\{(\w+)=\"([^\"]+)\"\}")


def queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_imports_with_a_prometheus_data_source() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert panel["targets"], panel["title"]
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


async def test_every_query_names_exported_metrics_and_labels(redis_server: RedisServer, key_prefix: str) -> None:
    manager = SessionManager.from_settings(
        Settings(redis_url=redis_server.url, key_prefix=key_prefix, max_sessions_per_user=1, risk_threshold="medium")
    )
    async with manager:
        metrics = SessionMetrics(manager, cache_seconds=0)
        client = ClientInfo(ip="198.51.100.7")
        first = await manager.login(None, "amira", client=client)
        second = await manager.login(None, "amira", client=client)  # evicts the first
        rotated = await manager.rotate(second.token)
        await manager.get(first.token, client=client)
        await manager.get(rotated.token, client=ClientInfo(ip="203.0.113.9"))
        await manager.revoke(rotated.id, reason="admin")
        text = (await metrics.render()).decode()

    exported: set[str] = set()
    labels: dict[str, set[str]] = {}
    values: dict[tuple[str, str], set[str]] = {}
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ("",))
        exported |= {family.name + suffix for suffix in suffixes}
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            for label, value in sample.labels.items():
                values.setdefault((sample.name, label), set()).add(value)

    expressions = queries()
    named = {name for expression in expressions for name in METRIC.findall(expression)}
    assert named, "the dashboard queries no sessionhub metric"
    assert named <= exported, sorted(named - exported)
    for expression in expressions:
        for grouping, name in GROUPED.findall(expression):
            wanted = {label.strip() for label in grouping.split(",")} - {"le"}
            if name in labels:  # a labelled counter has samples once counted: those that were, have the label
                assert wanted <= labels[name], (expression, labels[name])
        for name, label, value in MATCHER.findall(expression):
            assert value in values.get((name, label), set()), expression
    counted = {name for name in named if name in labels}
    assert {"sessionhub_sessions_created_total", "sessionhub_operation_seconds_bucket"} <= counted
