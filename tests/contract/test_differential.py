"""The memory and the Redis store, driven by hypothesis through the same operation sequences on the same clock, give
the same observable results: every rule implemented twice (Python in the memory backend and model.py, Lua in
backends/redis/lua/) is checked against its twin on whole workloads, not only case by case (test_lua_rules.py).

Sessions are compared by what an application sees of them (user, kind, data, the four times, messages), since the
two stores' random ids differ; each step keeps the pair of tokens the two stores gave the same session."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test

from sessionhub import SessionManager, Settings
from sessionhub.backends import MemoryBackend, RedisBackend
from sessionhub.model import Session
from tests.support.clock import FakeClock
from tests.support.redis_servers import RedisServer

pytestmark = pytest.mark.redis

USERS = st.sampled_from(["alice", "bob"])
KEYS = st.sampled_from(["a", "b"])
VALUES = st.none() | st.integers(-3, 3) | st.text(max_size=3) | st.lists(st.integers(0, 2), max_size=2)
KINDS = st.sampled_from(["user", "demo", "api"])
USER_IDS = ("alice", "bob")

Pair = tuple[str, str]
"""The tokens the memory and the Redis store gave one session."""


def outcome(result: Any) -> Any:
    """What the application sees of a result: sessions by content, never by their (random) ids or tokens."""
    if isinstance(result, BaseException):
        return type(result).__name__
    if isinstance(result, Session):
        times = (result.created_at, result.last_active_at, result.expires_at, result.absolute_expires_at)
        return ("session", result.user_id, result.kind, dict(result.data), times)
    if isinstance(result, list):
        return [outcome(item) for item in result]
    return result


class Differential(RuleBasedStateMachine):
    redis_url: str = ""

    pairs = Bundle("pairs")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        config = Settings(
            session_ttl=10,
            absolute_ttl=25,
            kind_idle_ttl={"api": 4},
            demo_ttl=6,
            max_sessions_per_user=2,
            max_messages=3,
            touch_interval=2,
            key_prefix=f"d{uuid.uuid4().hex[:10]}",
            security_log_max_events=20,
        )
        redis = RedisBackend.from_url(type(self).redis_url, key_prefix=config.key_prefix, client_cache=0)
        self.memory = SessionManager(MemoryBackend(), config, clock=self.clock)
        self.redis = SessionManager(redis, config, clock=self.clock)
        self.run(self.memory.open())
        self.run(self.redis.open())
        self.known: list[Pair] = []
        """Every pair of tokens handed out, live or not."""

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.memory.close())
        self.run(self.redis.close())
        self.loop.close()

    def tick(self) -> None:
        """At least a millisecond between operations, so that the order of activity is never a tie."""
        before = int(self.clock.now * 1000)
        while int(self.clock.now * 1000) <= before:
            self.clock.advance(0.001)

    def both(self, call: Any) -> tuple[Any, Any]:
        """Run `call(manager, side)` on each store (side 0: memory, 1: Redis); the results must look the same."""
        self.tick()
        results = []
        for side, manager in enumerate((self.memory, self.redis)):
            try:
                results.append(self.run(call(manager, side)))
            except Exception as exc:  # the same error on both sides is the same observable result
                results.append(exc)
        memory, redis = outcome(results[0]), outcome(results[1])
        assert memory == redis, f"memory: {memory!r}\nredis:  {redis!r}"
        pair = results[0], results[1]
        if (found := self.pair_of(pair)) is not None:
            self.known.append(found)
        return pair

    def pair_of(self, results: tuple[Any, Any]) -> Pair | None:
        memory, redis = results
        if isinstance(memory, Session) and isinstance(redis, Session):
            assert memory.token is not None
            assert redis.token is not None
            return memory.token, redis.token
        return None

    @rule(target=pairs, user=st.none() | USERS, kind=KINDS, key=KEYS, value=VALUES)
    def create(self, user: str | None, kind: str, key: str, value: Any) -> Any:
        created = self.both(lambda m, side: m.create(user_id=user, kind=kind, data={key: value}))
        return self.pair_of(created) or ("", "")

    @rule(pair=pairs)
    def get(self, pair: Pair) -> None:
        self.read(pair)

    @rule(pair=pairs, key=KEYS, value=VALUES, remove=st.booleans())
    def save(self, pair: Pair, key: str, value: Any, remove: bool) -> None:
        async def change(manager: SessionManager, side: int) -> Any:
            session = await manager.get(pair[side])
            if session is None:
                return None
            if remove:
                session.data.pop(key, None)
            else:
                session.data[key] = value
            return await manager.save(session)

        self.both(change)

    @rule(target=pairs, pair=consumes(pairs))
    def rotate(self, pair: Pair) -> Any:
        return self.pair_of(self.both(lambda m, side: m.rotate(pair[side]))) or pair

    @rule(target=pairs, pair=consumes(pairs) | st.none(), user=USERS, key=KEYS, value=VALUES)
    def login(self, pair: Pair | None, user: str, key: str, value: Any) -> Any:
        async def sign_in(manager: SessionManager, side: int) -> Any:
            token = pair[side] if pair is not None else None
            session = await manager.get(token) if token else None
            data = session.data if session is not None else None
            if data is not None:
                data[key] = value  # an unsaved change, written in the login's step wherever the data goes
            return await manager.login(token, user, data=data)

        return self.pair_of(self.both(sign_in)) or ("", "")

    @rule(pair=consumes(pairs))
    def delete(self, pair: Pair) -> None:
        self.both(lambda m, side: m.delete(pair[side]))

    @rule(user=USERS)
    def revoke_user(self, user: str) -> None:
        self.both(lambda m, side: m.revoke_user_sessions(user))

    @rule(pair=pairs, content=st.sampled_from(["hi", "there", "again"]))
    def add_message(self, pair: Pair, content: str) -> None:
        self.both(lambda m, side: m.add_message(pair[side], "user", content))

    @rule(pair=pairs, last=st.none() | st.integers(0, 4))
    def get_messages(self, pair: Pair, last: int | None) -> None:
        async def messages(manager: SessionManager, side: int) -> Any:
            found = await manager.get_messages(pair[side], limit=last)
            return [(message.role, message.content, message.created_at) for message in found]

        self.both(messages)

    @rule(seconds=st.sampled_from([0.3, 0.5, 0.7, 1.1, 1.9, 2.1, 3.9, 6, 9.99, 26]), reads=st.integers(0, 3))
    def time_passes(self, seconds: float, reads: int) -> None:
        """Time passes, then the newest sessions are read: where the touch and timeout rules show."""
        self.clock.advance(seconds)
        for pair in self.known[-reads:] if reads else ():
            self.read(pair)

    def read(self, pair: Pair) -> None:
        self.both(lambda m, side: m.get(pair[side]))

    @invariant()
    def users_counts_and_logs_agree(self) -> None:
        for user in USER_IDS:
            self.user_agrees(user)

        async def active(manager: SessionManager, side: int) -> Any:
            return (await manager.stats())["active_sessions"]

        self.both(active)

    def user_agrees(self, user: str) -> None:
        listed = self.both(lambda m, side: m.list_user_sessions(user))
        assert len(listed[0]) <= 2

        async def log(manager: SessionManager, side: int) -> Any:
            return [(e.type, e.at, e.reason, e.actor) for e in await manager.security_events(user)]

        self.both(log)


def test_memory_and_redis_agree(redis_server: RedisServer) -> None:
    machine = type("MemoryAgainstRedis", (Differential,), {"redis_url": redis_server.url})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
