"""Each rule that lives twice, in Python and in lua/helpers.lua, gives the same answers on the same cases: liveness,
whether a read slides the idle deadline and where to, eviction order, and the key names the scripts build."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis import Redis

from sessionhub.backends.redis.keys import KeyLayout
from sessionhub.backends.redis.scripts import _read
from sessionhub.client import ClientInfo
from sessionhub.model import SessionRecord, carries_over, eviction_order
from sessionhub.tokens import bucket_for_user, new_token, session_id_for
from tests.support.redis_servers import RedisServer

pytestmark = pytest.mark.redis

TIMES = st.integers(0, 10**13)
DURATIONS = st.integers(1, 10**9)


def lua(body: str) -> str:
    """A script of helpers.lua and `body`, as scripts.py builds them (without declared keys)."""
    return "\n".join(["#!lua flags=no-writes", _read("helpers.lua"), body])


RULES = lua("""
local meta = {a = ARGV[1], e = ARGV[2], x = ARGV[3], t = ARGV[4]}
local now, interval = tonumber(ARGV[5]), tonumber(ARGV[6])
return {is_live(meta, now) and 1 or 0, touch_due(meta, now, interval) and 1 or 0, idle_deadline(meta, now)}
""")

CARRIES_OVER = lua("return carries_over(ARGV[1] ~= '' and ARGV[1] or nil, ARGV[2]) and 1 or 0")

KEY_NAMES = lua("""
local tag, id, user = ARGV[1], ARGV[2], ARGV[3]
return {session_key_in(tag, id), messages_key_in(tag, id), rotated_from_key_in(tag, id), user_key_in(tag, user),
  events_key_in(tag, user)}
""")

# make_room's order, without the writes: the ids of {id, a, c} triples sorted by evicts_before.
EVICTION_ORDER = lua("""
local others = {}
for i = 1, #ARGV, 3 do others[#others + 1] = {id = ARGV[i], meta = {a = ARGV[i + 1], c = ARGV[i + 2]}} end
table.sort(others, evicts_before)
local ids = {}
for i, s in ipairs(others) do ids[i] = s.id end
return ids
""")


@pytest.fixture(scope="module")
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    client.close()


def record(active: int, idle_deadline: int, absolute: int, idle_ttl: int, created: int = 0) -> SessionRecord:
    return SessionRecord(
        id="00" + "0" * 32,
        user_id=None,
        kind="user",
        created_at=created,
        last_active_at=active,
        expires_at=idle_deadline,
        absolute_expires_at=absolute,
        idle_ttl=idle_ttl,
        client=ClientInfo(),
        data={},
    )


def evaluate(redis: Redis, script: str, *args: Any) -> Any:
    return redis.eval(script, 0, *args)


@settings(max_examples=200, deadline=None)
@given(active=TIMES, idle=DURATIONS, absolute=TIMES, idle_ttl=DURATIONS, elapsed=st.integers(0, 10**9),
       interval=st.integers(0, 10**8))  # fmt: skip
def test_liveness_and_touch_agree(
    redis: Redis, active: int, idle: int, absolute: int, idle_ttl: int, elapsed: int, interval: int
) -> None:
    python = record(active, active + idle, absolute, idle_ttl)
    now = active + elapsed
    live, due, deadline = evaluate(redis, RULES, active, active + idle, absolute, idle_ttl, now, interval)
    assert bool(live) == python.is_live(now)
    assert bool(due) == python.touch_due(now, interval)
    python.touched(now)
    assert deadline == python.expires_at


@settings(max_examples=50, deadline=None)
@given(user=st.text(st.characters(codec="ascii", exclude_characters="{}"), min_size=1, max_size=20))
def test_key_names_agree(redis: Redis, user: str) -> None:
    keys = KeyLayout("prefix")
    session_id = session_id_for(new_token(bucket_for_user(user)))
    assert session_id is not None
    tag = keys.tag(session_id[:2])
    names = [name.decode() for name in evaluate(redis, KEY_NAMES, tag, session_id, user)]
    assert names == [
        keys.session(session_id),
        keys.messages(session_id),
        keys.rotated_from(session_id),
        keys.user(user),
        keys.events(user),
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=8))
def test_eviction_order_agrees(redis: Redis, times: list[tuple[int, int]]) -> None:
    sessions = [record(active, 10**6, 10**6, 1000, created) for active, created in times]
    for number, session in enumerate(sessions):
        session.id = f"s{number}"
    args = [value for session in sessions for value in (session.id, session.last_active_at, session.created_at)]
    lua_order = [name.decode() for name in evaluate(redis, EVICTION_ORDER, *args)]
    python_order = [session.id for session in eviction_order(sessions)]
    # Sessions equal in both times may come in either order (table.sort is not stable): compare by those times.
    by_id = {session.id: (session.last_active_at, session.created_at) for session in sessions}
    assert [by_id[i] for i in lua_order] == [by_id[i] for i in python_order]


@settings(max_examples=30, deadline=None)
@given(previous=st.sampled_from(["", "ada", "bob"]), user=st.sampled_from(["ada", "bob"]))
def test_what_a_login_carries_over_agrees(redis: Redis, previous: str, user: str) -> None:
    assert bool(evaluate(redis, CARRIES_OVER, previous, user)) == carries_over(previous or None, user)
