"""The stateful model of tests/contract/test_stateful.py, on ResilientBackend(RedisBackend), with outages at random
steps.

Redis stays up; the outage is this process losing it (its breaker opens, as on a network partition), so that
hypothesis can shrink failures deterministically. Whatever happens during outages, every answer must match the
model, and once Redis is back (after the replay) so must Redis itself: listings, counts and, through later reads,
data and deadlines.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from sessionhub.backends import RedisBackend, ResilientBackend, SessionBackend
from sessionhub.backends.resilient.breaker import CircuitBreaker
from tests.contract.test_stateful import SessionsMachine


class OutagesMachine(SessionsMachine):
    @property
    def resilient(self) -> ResilientBackend:
        backend = self.manager.backend
        assert isinstance(backend, ResilientBackend)
        return backend

    @rule(seconds=st.sampled_from([3, 12, 30]))
    def time_passes(self, seconds: float) -> None:
        """Coarser steps than the base machine's: Redis enforces each key's TTL in real time, and replays write
        TTLs from the fake clock, so a session left with milliseconds of fake life could expire for real while
        the machine is still checking it. With these steps a live session has at least a second left."""
        self.clock.advance(seconds)

    def outage_messages(self) -> list[str] | None:
        return None if self.resilient.breaker.is_closed else []

    @rule()
    def redis_becomes_unreachable(self) -> None:
        if self.resilient.breaker.is_closed:
            for expected in self.model.values():
                expected.since_outage = []
        self.resilient.breaker.trip()

    @rule()
    def redis_is_back(self) -> None:
        assert self.run(self.resilient.recover())
        assert self.run(self.manager.health())["journal_length"] == 0
        # Redis itself, read without touching anything: every live session with the model's data and deadlines.
        redis = self.resilient.primary
        assert isinstance(redis, RedisBackend)
        now = int(self.clock.now * 1000)
        for expected in self.model.values():
            expected.since_outage = None
            if not expected.live(now):
                continue
            fields = self.run(redis.client.hgetall(redis.keys.session(expected.id)))
            data = {name[2:].decode(): orjson.loads(raw) for name, raw in fields.items() if name.startswith(b"d:")}
            assert data == expected.data
            assert int(fields[b"e"]) == expected.idle_deadline
            stored = self.run(redis.client.lrange(redis.keys.messages(expected.id), 0, -1))
            assert [orjson.loads(raw)["c"] for raw in stored] == expected.messages

    @invariant()
    def users_and_counts_agree(self) -> None:
        if self.resilient.breaker.is_closed:
            super().users_and_counts_agree()
            return
        # During an outage the count is of what this process knows; listings must still be exact.
        now = int(self.clock.now * 1000)
        for user in ["alice", "bob", "carol"]:
            listed = self.run(self.manager.list_user_sessions(user))
            assert {s.id for s in listed} == {s.id for s in self.user_sessions(user, now).values()}


def test_outages_change_nothing_users_can_see(request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_server").url

    def factory(prefix: str) -> SessionBackend:
        # A breaker whose timer never moves: probes run only when the machine says Redis is back.
        breaker = CircuitBreaker(timer=lambda: 0.0)
        return ResilientBackend(RedisBackend.from_url(url, key_prefix=prefix), breaker=breaker)

    machine = type("ResilientOutagesMachine", (OutagesMachine,), {"backend_factory": staticmethod(factory)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=80, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
