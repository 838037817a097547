"""The store contract is small: a store with only `SessionStore`'s operations serves every session feature, and each
feature that needs a capability it lacks says so clearly. Per-kind idle timeouts are settings, not special cases."""

from __future__ import annotations

from typing import Any

import pytest

from sessionhub import ConfigurationError, SessionManager, Settings
from sessionhub.backends import MemoryBackend, SessionStore, UserLimit
from sessionhub.backends.base import NO_AUDIT, Audit, RotatedAway
from sessionhub.model import DataChanges, SessionRecord
from tests.support.clock import FakeClock


class CoreOnlyStore(SessionStore):
    """The core operations of a MemoryBackend, and nothing else."""

    name = "core-only"

    def __init__(self) -> None:
        self.inner = MemoryBackend()

    async def load(self, session_id: str, now: int, *, touch_interval: int = 0) -> SessionRecord | RotatedAway | None:
        return await self.inner.load(session_id, now, touch_interval=touch_interval)

    async def peek(self, session_id: str, now: int) -> SessionRecord | None:
        return await self.inner.peek(session_id, now)

    async def create(
        self, record: SessionRecord, limit: UserLimit | None, now: int, *, audit: Audit = NO_AUDIT
    ) -> list[str]:
        return await self.inner.create(record, limit, now, audit=audit)

    async def update(self, session_id: str, changes: DataChanges, now: int) -> bool:
        return await self.inner.update(session_id, changes, now)

    async def rotate(
        self, session_id: str, new_session_id: str, now: int, *, audit: Audit = NO_AUDIT
    ) -> SessionRecord | None:
        return await self.inner.rotate(session_id, new_session_id, now, audit=audit)

    async def login(
        self,
        previous_id: str | None,
        record: SessionRecord,
        limit: UserLimit | None,
        now: int,
        *,
        changes: DataChanges | None = None,
        audit: Audit = NO_AUDIT,
    ) -> tuple[SessionRecord, list[str]]:
        return await self.inner.login(previous_id, record, limit, now, changes=changes, audit=audit)

    async def delete(self, session_id: str, now: int, *, audit: Audit = NO_AUDIT) -> bool:
        return await self.inner.delete(session_id, now, audit=audit)

    async def list_user(self, user_id: str, now: int) -> list[SessionRecord]:
        return await self.inner.list_user(user_id, now)

    async def delete_user(
        self, user_id: str, now: int, *, except_id: str | None = None, audit: Audit = NO_AUDIT
    ) -> list[str]:
        return await self.inner.delete_user(user_id, now, except_id=except_id, audit=audit)

    async def count(self, now: int) -> int:
        return await self.inner.count(now)

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "backend": self.name}


@pytest.fixture
async def core_manager(clock: FakeClock) -> SessionManager:
    return SessionManager(CoreOnlyStore(), Settings(max_sessions_per_user=2), clock=clock)


async def test_the_core_operations_are_all_sessions_need(core_manager: SessionManager) -> None:
    manager = core_manager
    session = await manager.create(data={"cart": []})
    loaded = await manager.get(session.token)
    assert loaded is not None
    loaded.data["cart"].append("tea")
    assert await manager.save(loaded)
    signed_in = await manager.login(session.token, "ada")
    assert signed_in.data["cart"] == ["tea"]
    rotated = await manager.rotate(signed_in.token or "")
    assert [listed.id for listed in await manager.list_user_sessions("ada")] == [rotated.id]
    assert (await manager.stats())["active_sessions"] == 1
    assert await manager.revoke_user_sessions("ada") == 1
    assert await manager.get(rotated.token) is None


async def test_a_rotated_away_token_counts_as_unknown_without_a_security_log(
    core_manager: SessionManager, clock: FakeClock
) -> None:
    session = await core_manager.create(user_id="ada")
    await core_manager.rotate(session.token or "")
    clock.advance(60)
    assert await core_manager.get(session.token) is None


@pytest.mark.parametrize(
    ("call", "feature"),
    [
        (lambda manager, token: manager.add_message(token, "user", "hello"), "conversations"),
        (lambda manager, token: manager.get_messages(token), "conversations"),
        (lambda manager, token: manager.security_events("ada"), "security log"),
        (lambda manager, token: manager.adopt_legacy("a-legacy-cookie-value"), "migrated legacy sessions"),
    ],
)
async def test_a_feature_the_store_cannot_serve_says_so(core_manager: SessionManager, call: Any, feature: str) -> None:
    session = await core_manager.create(user_id="ada")
    with pytest.raises(ConfigurationError, match=f"the core-only store keeps no {feature}"):
        await call(core_manager, session.token)


async def test_idle_timeouts_per_kind(clock: FakeClock) -> None:
    settings = Settings(session_ttl=600, demo_ttl=60, kind_idle_ttl={"api": 30})
    manager = SessionManager(MemoryBackend(), settings, clock=clock)
    ttl = {}
    for kind in ("api", "demo", "user"):
        session = await manager.create(kind=kind)
        ttl[kind] = (session.expires_at - session.created_at).total_seconds()
    assert ttl == {"api": 30, "demo": 60, "user": 600}


def test_a_kind_named_in_the_setting_wins_over_demo_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONHUB_KIND_IDLE_TTL", '{"demo": 5, "chat": 90}')
    monkeypatch.setenv("SESSIONHUB_DEMO_TTL", "60")
    settings = Settings()
    assert (settings.idle_ttl_for("demo"), settings.idle_ttl_for("chat"), settings.idle_ttl_for("user")) == (
        5,
        90,
        settings.session_ttl,
    )
    monkeypatch.delenv("SESSIONHUB_KIND_IDLE_TTL")
    assert Settings().idle_ttl_for("demo") == 60  # SESSIONHUB_DEMO_TTL keeps working


@pytest.mark.parametrize("timeouts", [{"Bad Kind": 5}, {"api": 0}, {"api": -1}])
def test_bad_kind_timeouts_are_refused(timeouts: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="kind_idle_ttl"):
        Settings(kind_idle_ttl=timeouts)
