"""Prometheus metrics: fed by the manager's observers, gauges read on scrape, served by a pure ASGI app."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sessionhub import ClientInfo, SessionManager
from sessionhub.metrics import STORE_COUNTERS, SessionMetrics
from tests.support.managers import MakeManager


async def scrape(metrics: SessionMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    transport = httpx.ASGITransport(app=metrics.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_counters_histograms_and_gauges(make_manager: MakeManager) -> None:
    manager = await make_manager(max_sessions_per_user=1, risk_threshold="medium")
    metrics = SessionMetrics(manager)
    backend = manager.backend.name
    laptop = ClientInfo(ip="198.51.100.20")
    first = await manager.create(user_id="alice", kind="api", client=laptop)
    second = await manager.login(None, "alice", client=laptop)
    rotated = await manager.rotate(second.token)
    await manager.get(rotated.token, client=ClientInfo(ip="203.0.113.9"))
    await manager.get("garbage", client=laptop)
    await manager.get(first.token, client=laptop)  # evicted: unknown
    anonymous = await manager.create()
    await manager.delete(anonymous.token)

    samples = await scrape(metrics)

    assert samples[("sessionhub_sessions_created_total", (("kind", "api"),))] == 1
    assert samples[("sessionhub_sessions_created_total", (("kind", "user"),))] == 2
    assert samples[("sessionhub_sessions_evicted_total", (("reason", "limit"),))] == 1
    assert samples[("sessionhub_sessions_rotated_total", (("kind", "user"),))] == 1
    assert samples[("sessionhub_sessions_revoked_total", (("reason", "logout"),))] == 1
    assert samples[("sessionhub_invalid_tokens_total", (("reason", "malformed"),))] == 1
    assert samples[("sessionhub_invalid_tokens_total", (("reason", "unknown"),))] == 1
    assert samples[("sessionhub_risk_flags_total", (("level", "medium"),))] == 1
    get_count = ("sessionhub_operation_seconds_count", (("backend", backend), ("operation", "get")))
    assert samples[get_count] == 2
    assert samples[("sessionhub_active_sessions", ())] == 1
    assert samples[("sessionhub_store_up", ())] == 1
    assert samples[("sessionhub_fallback_active", ())] == 0
    stats = await manager.stats()
    for stat, (name, _) in STORE_COUNTERS.items():  # the store's own counters, where it keeps them
        assert samples.get((f"sessionhub_{name}_total", ())) == (float(stats[stat]) if stat in stats else None)
    assert ("resent_calls" in stats) is (backend != "memory")


async def test_no_token_session_id_or_user_id_is_exported(make_manager: MakeManager) -> None:
    manager = await make_manager()
    metrics = SessionMetrics(manager)
    session = await manager.create(user_id="alice-the-user")
    rotated = await manager.rotate(session.token)
    await manager.revoke(rotated.id, reason="ticket alice-the-user 42")
    text = (await metrics.render()).decode()
    for secret in [session.token, rotated.token, session.id, rotated.id, "alice-the-user", "ticket"]:
        assert secret is not None
        assert secret not in text
    assert 'sessionhub_sessions_revoked_total{reason="revoked"} 1.0' in text


async def test_gauges_are_read_at_most_once_per_cache_period(manager: SessionManager) -> None:
    metrics = SessionMetrics(manager, cache_seconds=3600)
    await manager.create()
    first = await scrape(metrics)
    await manager.create()
    second = await scrape(metrics)
    assert first[("sessionhub_active_sessions", ())] == second[("sessionhub_active_sessions", ())] == 1
    metrics.cache_seconds = 0
    assert (await scrape(metrics))[("sessionhub_active_sessions", ())] == 2


async def test_the_app_answers_get_and_head_only(manager: SessionManager) -> None:
    transport = httpx.ASGITransport(app=SessionMetrics(manager).asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/metrics")).status_code == 405
        head = await client.head("/metrics")
    assert head.status_code == 200
    assert head.content == b""


async def test_two_managers_get_separate_registries(make_manager: MakeManager) -> None:
    one, two = SessionMetrics(await make_manager()), SessionMetrics(await make_manager())
    await one.manager.create()
    assert 'sessionhub_sessions_created_total{kind="user"} 1.0' in (await one.render()).decode()
    assert "sessionhub_sessions_created_total{" not in (await two.render()).decode()


def test_sessionhub_does_not_import_prometheus_and_has_no_observers_by_default() -> None:
    code = (
        "import sys, sessionhub, sessionhub.backends.memory as m\n"
        "manager = sessionhub.SessionManager(m.MemoryBackend())\n"
        "assert manager.observers == []\n"
        "assert 'prometheus_client' not in sys.modules, 'imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
