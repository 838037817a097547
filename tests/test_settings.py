from __future__ import annotations

import logging

import pytest

from sessionhub import BackendUnavailable, ConfigurationError, SessionManager, Settings
from sessionhub.backends import MemoryBackend, RedisBackend, ResilientBackend
from tests.support.redis_servers import RedisServer, free_port

SEED_VARIABLES = ["REDIS_URL", "SESSION_TTL_SECONDS", "SESSION_COOKIE_NAME", "COOKIE_SECURE", "TESTING"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SEED_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = Settings()
    assert settings.redis_url is None
    assert settings.session_ttl == 86_400
    assert settings.absolute_ttl == 7 * 86_400
    assert settings.session_cookie_name == "session_token"
    assert settings.session_cookie_secure is False
    assert settings.max_sessions_per_user is None
    assert settings.limit_policy == "evict_oldest"
    assert settings.max_data_bytes == 65_536
    assert settings.touch_interval == 60


def test_seed_variable_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/2")
    monkeypatch.setenv("SESSION_TTL_SECONDS", "2")
    monkeypatch.setenv("SESSION_COOKIE_NAME", "sid")
    monkeypatch.setenv("COOKIE_SECURE", "true")
    monkeypatch.setenv("SESSIONHUB_ABSOLUTE_TTL", "3")
    monkeypatch.setenv("SESSIONHUB_MAX_SESSIONS_PER_USER", "4")
    monkeypatch.setenv("SESSIONHUB_LIMIT_POLICY", "reject")
    settings = Settings()
    assert settings.redis_url == "redis://localhost:6379/2"
    assert (settings.session_ttl, settings.absolute_ttl) == (2, 3)
    assert settings.session_cookie_name == "sid"
    assert settings.session_cookie_secure is True
    assert (settings.max_sessions_per_user, settings.limit_policy) == (4, "reject")


def test_only_documented_variable_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each field's bare name in the environment (KEY_PREFIX=...) is ignored, unless the seeds documented it;
    the field name still works in code."""
    defaults = Settings()
    for name, field in Settings.model_fields.items():
        if name.upper() in SEED_VARIABLES:
            continue
        value = "1" if field.annotation in (bool, int, float, "bool", "int", "float") else "stray"
        monkeypatch.setenv(name.upper(), value)
        monkeypatch.setenv(name, value)
    assert Settings() == defaults
    assert Settings(key_prefix="in-code").key_prefix == "in-code"


def test_touch_interval_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONHUB_TOUCH_INTERVAL", "0")
    assert Settings().touch_interval == 0
    monkeypatch.setenv("SESSIONHUB_TOUCH_INTERVAL", "2.5")
    assert Settings().touch_interval == 2.5


def test_sessionhub_names_win_over_seed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_TTL_SECONDS", "5")
    monkeypatch.setenv("SESSIONHUB_SESSION_TTL", "7")
    assert Settings().session_ttl == 7


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SESSION_TTL_SECONDS", "0"),
        ("SESSION_TTL_SECONDS", "soon"),
        ("SESSIONHUB_ABSOLUTE_TTL", "-5"),
        ("SESSIONHUB_LIMIT_POLICY", "random"),
        ("SESSIONHUB_MAX_SESSIONS_PER_USER", "0"),
        ("SESSIONHUB_MAX_DATA_BYTES", "lots"),
        ("SESSION_COOKIE_NAME", "bad name;"),
        ("SESSIONHUB_KEY_PREFIX", "app{1}"),
        ("SESSIONHUB_TOUCH_INTERVAL", "-1"),
        ("SESSIONHUB_TOUCH_INTERVAL", "infinity"),
        ("REDIS_URL", "hunter2-password"),
    ],
)
def test_invalid_values_fail_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        Settings()
    assert variable in str(raised.value)
    if len(value) > 2:  # "0" appears in "greater than 0" by right
        assert value not in str(raised.value)


def test_redis_url_is_kept_out_of_repr() -> None:
    assert "secret" not in repr(Settings(redis_url="redis://:secret@localhost/0"))


def test_from_settings_uses_memory_without_redis_url_or_when_testing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(SessionManager.from_settings().backend, MemoryBackend)
    monkeypatch.setenv("TESTING", "true")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert isinstance(SessionManager.from_settings().backend, MemoryBackend)


async def test_from_settings_uses_redis_when_reachable(redis_server: RedisServer) -> None:
    async with SessionManager.from_settings(Settings(redis_url=redis_server.url)) as manager:
        assert isinstance(manager.backend, ResilientBackend)
        assert isinstance(manager.backend.primary, RedisBackend)
        assert manager.backend.call_timeout == 0.25
        assert (await manager.health())["status"] == "ok"
    async with SessionManager.from_settings(Settings(redis_url=redis_server.url, redis_fallback=False)) as manager:
        assert isinstance(manager.backend, RedisBackend)
        assert (await manager.health())["status"] == "ok"


def test_fallback_settings_reach_the_resilient_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONHUB_REDIS_CALL_TIMEOUT", "0.1")
    monkeypatch.setenv("SESSIONHUB_BREAKER_THRESHOLD", "5")
    monkeypatch.setenv("SESSIONHUB_BREAKER_MAX_BACKOFF", "2")
    monkeypatch.setenv("SESSIONHUB_NEAR_CACHE_SIZE", "7")
    backend = SessionManager.from_settings(Settings(redis_url="redis://127.0.0.1:1/0")).backend
    assert isinstance(backend, ResilientBackend)
    assert backend.call_timeout == 0.1
    assert (backend.breaker.threshold, backend.breaker.max_backoff) == (5, 2)
    assert backend.near_cache.size == 7
    with pytest.raises(ConfigurationError, match="SESSIONHUB_REDIS_CALL_TIMEOUT"):
        Settings(redis_call_timeout=0)


@pytest.mark.parametrize("fallback", [True, False])
async def test_redis_down_at_start_fails_start_up_unless_allowed(fallback: bool) -> None:
    """No silent start on memory: each process would keep its own sessions, and a wrong URL would go unseen."""
    settings = Settings(redis_url=f"redis://:pw-secret@127.0.0.1:{free_port()}/0", redis_fallback=fallback)
    manager = SessionManager.from_settings(settings)
    with pytest.raises(BackendUnavailable, match=r"start-up|cannot be reached") as refused:
        await manager.open()
    assert "pw-secret" not in str(refused.value)


async def test_from_settings_serves_from_memory_when_redis_is_down_at_start_if_allowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(redis_url=f"redis://:pw-secret@127.0.0.1:{free_port()}/0", redis_start_in_memory=True)
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        async with SessionManager.from_settings(settings) as manager:
            assert isinstance(manager.backend, ResilientBackend)
            session = await manager.create(data={"works": True})
            assert await manager.get(session.token) is not None
            health = await manager.health()
            assert (health["status"], health["fallback_active"]) == ("degraded", True)
    assert "memory" in caplog.text
    assert "pw-secret" not in caplog.text


async def test_without_fallback_redis_down_at_start_means_memory_instead_if_allowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(
        redis_url=f"redis://:pw-secret@127.0.0.1:{free_port()}/0", redis_fallback=False, redis_start_in_memory=True
    )
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        async with SessionManager.from_settings(settings) as manager:
            assert isinstance(manager.backend, MemoryBackend)
            session = await manager.create(data={"works": True})
            assert await manager.get(session.token) is not None
    assert "memory" in caplog.text
    assert "pw-secret" not in caplog.text
