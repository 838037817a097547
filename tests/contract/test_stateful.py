"""Each backend, driven by hypothesis through random sequences of operations, against a plain model of sessions,
users and time."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from sessionhub import SessionLimitExceeded, SessionManager, SessionNotFound, Settings
from sessionhub.backends import SessionBackend
from tests.support.clock import FakeClock
from tests.support.deployments import BACKENDS, backend_factory

IDLE_MS = 10_000
ABSOLUTE_MS = 25_000
LIMIT = 3
MAX_MESSAGES = 4
USERS = st.sampled_from(["alice", "bob", "carol"])
KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.none() | st.integers(-5, 5) | st.text(max_size=3) | st.lists(st.integers(0, 3), max_size=3)
# Touch intervals in seconds: every read slides; half a second (under a tenth of the idle timeout); five seconds
# (capped at that tenth, one second).
TOUCH_INTERVALS = st.sampled_from([0.0, 0.5, 5.0])


@dataclass
class ModelSession:
    id: str
    user: str | None
    created: int
    active: int
    idle_deadline: int
    absolute_deadline: int
    data: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    since_outage: list[str] | None = None
    """The messages added since an outage began, while one lasts (ResilientBackend shows only those meanwhile)."""

    @property
    def visible_messages(self) -> list[str]:
        return self.messages if self.since_outage is None else self.since_outage

    def live(self, now: int) -> bool:
        return now < self.idle_deadline and now < self.absolute_deadline

    def touch(self, now: int) -> None:
        self.active = now
        self.idle_deadline = min(now + IDLE_MS, self.absolute_deadline)

    def read(self, now: int, touch_interval_ms: int) -> None:
        """A read slides the deadline once the touch interval, capped at a tenth of the idle timeout, has passed."""
        if now - self.active >= min(touch_interval_ms, IDLE_MS // 10):
            self.touch(now)


def milliseconds(*moments: datetime) -> tuple[int, ...]:
    return tuple(round(moment.timestamp() * 1000) for moment in moments)


class SessionsMachine(RuleBasedStateMachine):
    backend_factory: Any = None

    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        prefix = f"h{uuid.uuid4().hex[:10]}"
        backend: SessionBackend = type(self).backend_factory(prefix)
        self.manager = SessionManager(backend, self.config(prefix, touch_interval=0), clock=self.clock)
        self.run(self.manager.open())
        self.model: dict[str, ModelSession] = {}
        self.touch_interval_ms = 0

    @staticmethod
    def config(prefix: str, *, touch_interval: float) -> Settings:
        return Settings(
            session_ttl=IDLE_MS / 1000,
            absolute_ttl=ABSOLUTE_MS / 1000,
            max_sessions_per_user=LIMIT,
            max_messages=MAX_MESSAGES,
            key_prefix=prefix,
            touch_interval=touch_interval,
        )

    @initialize(touch_interval=TOUCH_INTERVALS)
    def choose_touch_interval(self, touch_interval: float) -> None:
        """Each run reads with one touch interval (the manager passes its current settings on every call)."""
        self.manager.settings = self.config(self.manager.settings.key_prefix, touch_interval=touch_interval)
        self.touch_interval_ms = int(touch_interval * 1000)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.manager.close())
        self.loop.close()

    def tick(self) -> int:
        """Every operation happens at least a millisecond after the last, so the order of activity is never a tie.

        The clock is float seconds and the manager reads int(now * 1000): one advance of 0.001 can land on the same
        millisecond (1_800_000_000.001 + 0.001 does), and two logins in one millisecond evict in any order."""
        before = int(self.clock.now * 1000)
        while int(self.clock.now * 1000) <= before:
            self.clock.advance(0.001)
        return int(self.clock.now * 1000)

    def live_model(self, token: str, now: int) -> ModelSession | None:
        session = self.model.get(token)
        if session is not None and not session.live(now):
            del self.model[token]
            return None
        return session

    def check_stored_times(self, expected: ModelSession) -> None:
        """What the store holds (peek slides nothing): a read slid it exactly when the model says so."""
        stored = self.run(self.manager.peek(expected.id))
        assert stored is not None
        assert milliseconds(stored.last_active_at, stored.expires_at) == (expected.active, expected.idle_deadline)

    def user_sessions(self, user: str, now: int) -> dict[str, ModelSession]:
        return {t: s for t, s in self.model.items() if s.user == user and s.live(now)}

    def make_room(self, user: str, now: int) -> None:
        mine = sorted(self.user_sessions(user, now).items(), key=lambda item: (item[1].active, item[1].created))
        for token, _ in mine[: max(0, len(mine) - LIMIT + 1)]:
            del self.model[token]

    def outage_messages(self) -> list[str] | None:
        """What a new session's `since_outage` starts as: None, as there are no outages here (see the subclass)."""
        return None

    def add(
        self,
        token: str,
        session_id: str,
        user: str | None,
        now: int,
        data: dict[str, Any],
        messages: list[str],
        since_outage: list[str] | None,
    ) -> None:
        self.model[token] = ModelSession(
            session_id,
            user,
            now,
            now,
            now + min(IDLE_MS, ABSOLUTE_MS),
            now + ABSOLUTE_MS,
            dict(data),
            list(messages),
            None if since_outage is None else list(since_outage),
        )

    @rule(target=tokens, user=st.none() | USERS, data=st.dictionaries(KEYS, VALUES, max_size=2))
    def create(self, user: str | None, data: dict[str, Any]) -> str:
        now = self.tick()
        session = self.run(self.manager.create(user_id=user, data=data))
        if user is not None:
            self.make_room(user, now)
        self.add(session.token, session.id, user, now, data, [], self.outage_messages())
        return str(session.token)

    @rule(token=tokens)
    def get(self, token: str) -> None:
        now = self.tick()
        expected = self.live_model(token, now)
        session = self.run(self.manager.get(token))
        if expected is None:
            assert session is None
            return
        assert session is not None
        assert (session.id, session.user_id, dict(session.data)) == (expected.id, expected.user, expected.data)
        expected.read(now, self.touch_interval_ms)
        assert milliseconds(session.last_active_at, session.expires_at) == (expected.active, expected.idle_deadline)
        self.check_stored_times(expected)

    @rule(token=tokens, key=KEYS, value=VALUES)
    def set_value(self, token: str, key: str, value: Any) -> None:
        now = self.tick()
        expected = self.live_model(token, now)
        session = self.run(self.manager.get(token))
        assert (session is None) == (expected is None)
        if session is None or expected is None:
            return
        expected.read(now, self.touch_interval_ms)
        session.data[key] = value
        changed = key not in expected.data or expected.data[key] != value
        assert self.run(self.manager.save(session)) is changed
        if changed:  # a save slides the deadline, whether the read did or not; an unchanged one sends nothing
            expected.touch(now)
        expected.data[key] = value

    @rule(token=tokens, text=st.sampled_from(["hi", "visa?", "ok"]))
    def add_message(self, token: str, text: str) -> None:
        now = self.tick()
        expected = self.live_model(token, now)
        try:
            length = self.run(self.manager.add_message(token, "user", text))
        except SessionNotFound:
            assert expected is None
            return
        assert expected is not None
        expected.messages = [*expected.messages, text][-MAX_MESSAGES:]
        if expected.since_outage is not None:
            expected.since_outage = [*expected.since_outage, text][-MAX_MESSAGES:]
        expected.touch(now)
        assert length == len(expected.visible_messages)

    @rule(token=tokens, limit=st.none() | st.integers(0, MAX_MESSAGES + 1))
    def read_messages(self, token: str, limit: int | None) -> None:
        now = self.tick()
        expected = self.live_model(token, now)
        try:
            messages = self.run(self.manager.get_messages(token, limit=limit))
        except SessionNotFound:
            assert expected is None
            return
        assert expected is not None
        expected.read(now, self.touch_interval_ms)
        self.check_stored_times(expected)
        visible = expected.visible_messages
        first = 0 if limit is None else max(len(visible) - limit, 0)
        wanted = visible[first:]
        assert [message.content for message in messages] == wanted

    @rule(target=tokens, token=consumes(tokens))
    def rotate(self, token: str) -> str:
        now = self.tick()
        expected = self.live_model(token, now)
        try:
            rotated = self.run(self.manager.rotate(token))
        except SessionNotFound:
            assert expected is None
            return token
        assert expected is not None
        del self.model[token]
        expected.id = rotated.id
        expected.touch(now)
        self.model[str(rotated.token)] = expected
        return str(rotated.token)

    @rule(target=tokens, token=st.none() | tokens, user=USERS)
    def login(self, token: str | None, user: str) -> str:
        now = self.tick()
        try:
            session = self.run(self.manager.login(token, user))
        except SessionLimitExceeded:  # pragma: no cover - the machine uses evict_oldest
            raise AssertionError("evict_oldest never refuses") from None
        previous = self.live_model(token, now) if token else None
        carried = previous is not None and previous.user in (None, user)
        data, messages = (previous.data, previous.messages) if carried and previous is not None else ({}, [])
        since_outage = previous.since_outage if carried and previous is not None else self.outage_messages()
        if token is not None:
            self.model.pop(token, None)
        self.make_room(user, now)
        self.add(str(session.token), session.id, user, now, data, messages, since_outage)
        return str(session.token)

    @rule(token=tokens)
    def delete(self, token: str) -> None:
        now = self.tick()
        expected = self.live_model(token, now)
        assert self.run(self.manager.delete(token)) is (expected is not None)
        self.model.pop(token, None)

    @rule(user=USERS, keep_one=st.booleans())
    def revoke_user(self, user: str, keep_one: bool) -> None:
        now = self.tick()
        mine = self.user_sessions(user, now)
        keep = next(iter(mine.values())).id if keep_one and mine else None
        removed = self.run(self.manager.revoke_user_sessions(user, except_session_id=keep))
        assert removed == len(mine) - (keep is not None)
        for token, session in mine.items():
            if session.id != keep:
                del self.model[token]

    @rule(seconds=st.sampled_from([0.5, 3, 9.9, 10, 12, 30]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def users_and_counts_agree(self) -> None:
        now = int(self.clock.now * 1000)
        for user in ["alice", "bob", "carol"]:
            listed = self.run(self.manager.list_user_sessions(user))
            assert {s.id for s in listed} == {s.id for s in self.user_sessions(user, now).values()}
            assert len(listed) <= LIMIT
        live = sum(1 for s in self.model.values() if s.live(now))
        assert self.run(self.manager.stats())["active_sessions"] == live


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_backend_behaves_like_the_model(backend_name: str, request: pytest.FixtureRequest) -> None:
    factory = backend_factory(request, backend_name)
    machine = type(f"{backend_name.title()}Machine", (SessionsMachine,), {"backend_factory": staticmethod(factory)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=40, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
