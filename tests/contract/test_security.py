"""Security monitoring on every backend: the per-user security log, token reuse, risk policies, token abuse and the
observers that metrics hang on."""

from __future__ import annotations

import pytest

from sessionhub import ClientInfo, SecurityEvent, SessionLimitExceeded, SessionManager, TokenThrottled, events
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager

LAPTOP = ClientInfo(
    ip="198.51.100.20",
    user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
)
SAME_NETWORK = ClientInfo(ip="198.51.100.77", user_agent=LAPTOP.user_agent)
OTHER_NETWORK = ClientInfo(ip="203.0.113.5", user_agent=LAPTOP.user_agent)
OTHER_DEVICE = ClientInfo(
    ip=LAPTOP.ip,
    user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0",
)


class RecordingObserver:
    def __init__(self) -> None:
        self.operations: list[tuple[str, str]] = []
        self.events: list[tuple[str, str, int]] = []

    def operation_finished(self, operation: str, backend: str, seconds: float) -> None:
        assert seconds >= 0
        self.operations.append((operation, backend))

    def session_event(self, event: str, label: str, count: int) -> None:
        self.events.append((event, label, count))


def types(log: list[SecurityEvent]) -> list[str]:
    return [event.type for event in log]


async def test_the_log_tells_a_users_story_newest_first(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(max_sessions_per_user=2)
    anonymous = await manager.create(client=LAPTOP)
    clock.advance(1)
    signed_in = await manager.login(anonymous.token, "alice", client=LAPTOP)
    clock.advance(1)
    rotated = await manager.rotate(signed_in.token, client=LAPTOP)
    clock.advance(1)
    phone = await manager.create(user_id="alice", client=OTHER_DEVICE)
    clock.advance(1)
    third = await manager.create(user_id="alice")  # evicts the least recently active: the rotated session
    clock.advance(1)
    await manager.revoke(phone.id, actor=events.ADMIN, reason="support ticket 42")
    clock.advance(1)
    await manager.delete(third.token, client=LAPTOP)

    log = await manager.security_events("alice")

    assert types(log) == [
        events.REVOKED, events.REVOKED, events.CREATED, events.EVICTED, events.LIMIT_REACHED,
        events.CREATED, events.ROTATED, events.LOGIN,
    ]  # fmt: skip
    logout, by_admin, created, evicted, limit, created_phone, rotation, login = log
    assert (logout.session_id, logout.reason, logout.actor, logout.ip) == (third.id, "logout", "user", LAPTOP.ip)
    assert logout.device == "Firefox on Linux"
    assert (by_admin.session_id, by_admin.reason, by_admin.actor) == (phone.id, "support ticket 42", "admin")
    assert (evicted.session_id, evicted.related_session_id, evicted.reason) == (rotated.id, third.id, "limit")
    assert (limit.session_id, limit.reason, limit.actor) == (third.id, "evict_oldest", "system")
    assert created.session_id == third.id
    assert (created_phone.session_id, created_phone.device) == (phone.id, "Chrome on Windows")
    assert (rotation.session_id, rotation.related_session_id) == (rotated.id, signed_in.id)
    assert (login.session_id, login.related_session_id) == (signed_in.id, anonymous.id)
    assert [event.at for event in log] == sorted((event.at for event in log), reverse=True)
    assert (log[0].at - log[-1].at).total_seconds() == 5  # login at t=1, logout at t=6
    assert {event.type for event in log} <= set(events.EVENT_TYPES)


async def test_the_log_holds_no_token(manager: SessionManager) -> None:
    session = await manager.create(user_id="alice", client=LAPTOP)
    rotated = await manager.rotate(session.token, client=LAPTOP)
    await manager.delete(rotated.token)
    dump = repr(await manager.security_events("alice"))
    assert session.token is not None
    assert rotated.token is not None
    assert session.token not in dump
    assert rotated.token not in dump
    assert session.id in dump
    assert rotated.id in dump


async def test_anonymous_sessions_and_reads_log_nothing(manager: SessionManager) -> None:
    anonymous = await manager.create(client=LAPTOP)
    await manager.rotate(anonymous.token, client=LAPTOP)
    signed_in = await manager.create(user_id="alice", client=LAPTOP)
    for _ in range(5):
        assert await manager.get(signed_in.token, client=LAPTOP) is not None
    assert types(await manager.security_events("alice")) == [events.CREATED]


async def test_limit_refusals_are_logged_while_nothing_else_changes(make_manager: MakeManager) -> None:
    manager = await make_manager(max_sessions_per_user=1, limit_policy="reject")
    kept = await manager.create(user_id="alice")
    with pytest.raises(SessionLimitExceeded):
        await manager.login(None, "alice", client=OTHER_NETWORK)
    log = await manager.security_events("alice")
    assert types(log) == [events.LIMIT_REACHED, events.CREATED]
    assert (log[0].reason, log[0].ip) == ("reject", OTHER_NETWORK.ip)
    assert [s.id for s in await manager.list_user_sessions("alice")] == [kept.id]


async def test_sign_out_everywhere_logs_each_session(manager: SessionManager) -> None:
    sessions = [await manager.create(user_id="alice") for _ in range(3)]
    assert await manager.revoke_user_sessions("alice", except_session_id=sessions[0].id) == 2
    assert await manager.revoke_user_sessions("alice", actor=events.ADMIN) == 1
    revoked = [event for event in await manager.security_events("alice") if event.type == events.REVOKED]
    assert [(e.reason, e.actor) for e in revoked] == [("sign_out_everywhere", "admin")] + [
        ("sign_out_other_devices", "user")
    ] * 2
    assert {e.session_id for e in revoked} == {s.id for s in sessions}


async def test_the_log_is_capped_and_limited(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(security_log_max_events=5)
    created = []
    for _ in range(12):
        created.append((await manager.create(user_id="alice")).id)
        clock.advance(1)
    log = await manager.security_events("alice")
    assert [e.session_id for e in log] == created[::-1][:5]
    assert [e.session_id for e in await manager.security_events("alice", limit=2)] == created[::-1][:2]
    with pytest.raises(ValueError, match="limit"):
        await manager.security_events("alice", limit=0)


async def test_the_log_expires(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(security_log_ttl=100)
    await manager.create(user_id="alice")
    clock.advance(60)
    await manager.create(user_id="alice")
    clock.advance(60)
    assert len(await manager.security_events("alice")) == 1
    clock.advance(41)
    assert await manager.security_events("alice") == []


async def test_no_log_when_turned_off(make_manager: MakeManager) -> None:
    manager = await make_manager(security_log_max_events=0)
    session = await manager.create(user_id="alice")
    await manager.delete(session.token)
    assert await manager.security_events("alice") == []


# -- token reuse ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["record", "revoke"])
async def test_a_rotated_away_token_presented_again_is_reported(
    make_manager: MakeManager, clock: FakeClock, policy: str
) -> None:
    manager = await make_manager(rotated_token_policy=policy, rotated_token_grace=5)
    observer = RecordingObserver()
    manager.observers.append(observer)
    first = await manager.create(user_id="alice", client=LAPTOP)
    second = await manager.rotate(first.token)
    third = await manager.rotate(second.token)

    assert await manager.get(first.token, client=OTHER_NETWORK) is None  # within the grace period: a race
    assert events.TOKEN_REUSED not in types(await manager.security_events("alice"))
    clock.advance(6)
    assert await manager.get(first.token, client=OTHER_NETWORK) is None

    log = await manager.security_events("alice")
    reused = next(e for e in log if e.type == events.TOKEN_REUSED)
    assert (reused.session_id, reused.related_session_id, reused.ip) == (third.id, first.id, OTHER_NETWORK.ip)
    assert ("token_reused", policy, 1) in observer.events
    still_there = await manager.get(third.token)
    if policy == "revoke":
        assert still_there is None
        assert (log[0].type, log[0].session_id, log[0].reason) == (events.REVOKED, third.id, "token_reused")
    else:
        assert still_there is not None


async def test_unknown_tokens_are_not_reuse(manager: SessionManager, clock: FakeClock) -> None:
    session = await manager.create(user_id="alice")
    assert session.token is not None
    await manager.delete(session.token)
    clock.advance(60)
    assert await manager.get(session.token) is None
    assert types(await manager.security_events("alice")) == [events.REVOKED, events.CREATED]


# -- risk -------------------------------------------------------------------------------------------------------------


async def test_risk_levels_follow_the_rules(manager: SessionManager) -> None:
    session = await manager.create(user_id="alice", client=LAPTOP)
    expected = {"none": LAPTOP, "low": SAME_NETWORK, "medium": OTHER_NETWORK, "high": OTHER_DEVICE}
    for level, client in expected.items():
        loaded = await manager.get(session.token, client=client)
        assert loaded is not None
        assert loaded.risk is not None
        assert loaded.risk.level == level
    plain = await manager.get(session.token)
    assert plain is not None
    assert plain.risk is None


async def test_flagged_clients_are_recorded_once(make_manager: MakeManager) -> None:
    manager = await make_manager(risk_threshold="medium")
    observer = RecordingObserver()
    manager.observers.append(observer)
    session = await manager.create(user_id="alice", client=LAPTOP)
    for client in [SAME_NETWORK, OTHER_NETWORK, OTHER_NETWORK, OTHER_DEVICE, OTHER_DEVICE, OTHER_NETWORK]:
        loaded = await manager.get(session.token, client=client)
        assert loaded is not None
        assert loaded.reauthenticate is False

    flagged = [e for e in await manager.security_events("alice") if e.type == events.RISK_FLAGGED]
    assert [(e.risk, e.reason, e.ip) for e in flagged] == [
        ("medium", "network_changed", OTHER_NETWORK.ip),
        ("high", "device_changed", OTHER_DEVICE.ip),
        ("medium", "network_changed", OTHER_NETWORK.ip),
    ]
    assert [e for e in observer.events if e[0] == "risk_flagged"] == [
        ("risk_flagged", "medium", 1), ("risk_flagged", "medium", 1), ("risk_flagged", "high", 1),
        ("risk_flagged", "high", 1), ("risk_flagged", "medium", 1),
    ]  # fmt: skip


async def test_reauthenticate_policy_sets_the_flag(make_manager: MakeManager) -> None:
    manager = await make_manager(risk_policy="reauthenticate")
    session = await manager.create(user_id="alice", client=LAPTOP)
    medium = await manager.get(session.token, client=OTHER_NETWORK)
    high = await manager.get(session.token, client=OTHER_DEVICE)
    assert medium is not None
    assert medium.reauthenticate is False
    assert high is not None
    assert high.reauthenticate is True
    # Signing in again binds the new client: no more flag.
    again = await manager.login(session.token, "alice", client=OTHER_DEVICE)
    confirmed = await manager.get(again.token, client=OTHER_DEVICE)
    assert confirmed is not None
    assert confirmed.reauthenticate is False


async def test_revoke_policy_ends_the_session(make_manager: MakeManager) -> None:
    manager = await make_manager(risk_policy="revoke", risk_threshold="high")
    session = await manager.create(user_id="alice", client=LAPTOP)
    assert await manager.get(session.token, client=OTHER_NETWORK) is not None
    assert await manager.get(session.token, client=OTHER_DEVICE) is None
    assert await manager.get(session.token, client=LAPTOP) is None
    log = await manager.security_events("alice")
    assert (log[0].type, log[0].reason, log[0].actor) == (events.REVOKED, "risk high: device_changed", "system")


async def test_anonymous_sessions_get_risk_levels_too(make_manager: MakeManager) -> None:
    manager = await make_manager(risk_policy="revoke")
    session = await manager.create(client=LAPTOP)
    assert await manager.get(session.token, client=OTHER_DEVICE) is None


# -- token abuse ------------------------------------------------------------------------------------------------------


async def test_unknown_token_bursts_are_counted_and_throttled(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(token_abuse_threshold=3, token_abuse_window=10, token_abuse_throttle=True)
    observer = RecordingObserver()
    manager.observers.append(observer)
    guesser = ClientInfo(ip="192.0.2.66")
    valid = await manager.create(client=guesser)
    unknown = valid.token[:2] + ("A" if valid.token[2] != "A" else "B") + valid.token[3:]  # type: ignore[index]

    # Malformed cookies cost no store call and may be another application's: counted, never held against anyone.
    for token in ["garbage", unknown, "x" * 45, unknown, "legacy-session-cookie"]:
        assert await manager.get(token, client=guesser) is None
    assert await manager.get(valid.token, client=guesser) is not None  # below the threshold: still served
    assert await manager.get(unknown, client=guesser) is None  # the third unknown one: a burst
    with pytest.raises(TokenThrottled) as throttled:
        await manager.get(valid.token, client=guesser)
    assert 0 < throttled.value.retry_after <= 10
    assert valid.token is not None
    assert valid.token not in str(throttled.value)
    # Other clients, and requests without a cookie, are not affected.
    assert await manager.get(valid.token, client=ClientInfo(ip="192.0.2.1")) is not None
    assert await manager.get(None, client=guesser) is None
    clock.advance(10.5)
    assert await manager.get(valid.token, client=guesser) is not None

    rejected = [e for e in observer.events if e[0] == "token_rejected"]
    assert [label for _, label, _ in rejected] == [
        "malformed",
        "unknown",
        "malformed",
        "unknown",
        "malformed",
        "unknown",
    ]
    assert [e for e in observer.events if e[0] == "token_abuse"] == [
        ("token_abuse", "burst", 1),
        ("token_abuse", "throttled", 1),
    ]


async def test_without_throttling_bursts_are_only_reported(make_manager: MakeManager) -> None:
    manager = await make_manager(token_abuse_threshold=2)
    observer = RecordingObserver()
    manager.observers.append(observer)
    valid = await manager.create()
    assert valid.token is not None
    guesser = ClientInfo(ip="192.0.2.66")
    for character in "ABCDE":
        await manager.get(valid.token[:2] + character * 43, client=guesser)
    assert await manager.get(valid.token, client=guesser) is not None
    assert [e for e in observer.events if e[0] == "token_abuse"] == [("token_abuse", "burst", 1)]


# -- observers --------------------------------------------------------------------------------------------------------


async def test_observers_see_operations_and_events_without_secrets(make_manager: MakeManager) -> None:
    manager = await make_manager(max_sessions_per_user=1)
    observer = RecordingObserver()
    manager.observers.append(observer)
    first = await manager.create(user_id="alice", kind="api")
    await manager.get(first.token)
    second = await manager.login(None, "alice")
    await manager.rotate(second.token)
    await manager.delete(second.token)  # rotated away: nothing to delete
    await manager.revoke_user_sessions("alice")
    await manager.stats()

    backend = manager.backend.name
    assert observer.operations == [
        ("create", backend), ("get", backend), ("login", backend), ("rotate", backend),
        ("delete", backend), ("revoke_user_sessions", backend), ("stats", backend),
    ]  # fmt: skip
    assert observer.events == [
        ("created", "api", 1), ("created", "user", 1), ("evicted", "limit", 1), ("rotated", "user", 1),
        ("revoked", "sign_out_everywhere", 1),
    ]  # fmt: skip
    labels = " ".join(label for _, label, _ in observer.events)
    for secret in [first.token, second.token, first.id, second.id, "alice"]:
        assert secret is not None
        assert secret not in labels
