"""ResilientBackend against a real redis-server that is hung (SIGSTOP), killed (-9) and restarted, step by step.

The breaker's timer is fake here, so probes run exactly when a test says; `recover()` runs one at once. What another
application node does meanwhile is played by a plain RedisBackend on the same server (`other_node`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import httpx
import pytest

from sessionhub import BackendUnavailable, ClientInfo, Session, SessionManager, Settings
from sessionhub.backends import RedisBackend, ResilientBackend
from sessionhub.backends.resilient.breaker import CircuitBreaker
from sessionhub.metrics import SessionMetrics
from tests.asgi.app import build_app
from tests.asgi.conftest import uvicorn_server
from tests.support.clock import FakeClock
from tests.support.redis_servers import RedisServer, free_port

T = TypeVar("T")

CALL_TIMEOUT = 0.2
THRESHOLD = 2
SETTINGS = {"session_ttl": 600, "absolute_ttl": 3600}


class CountingRedisBackend(RedisBackend):
    """A real RedisBackend that counts the calls it makes to the server (commands, scripts, pipelines, probes):
    every one goes through `_call`."""

    calls = 0

    async def _call(self, send: Callable[[], Awaitable[T]]) -> T:
        self.calls += 1
        return await super()._call(send)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer.start(persistence=True) as server:
        yield server


@pytest.fixture
def timer() -> FakeClock:
    """The breaker's monotonic timer (the sessions' clock is `clock`)."""
    return FakeClock(0.0)


@pytest.fixture
async def node(
    server: RedisServer, key_prefix: str, clock: FakeClock, timer: FakeClock
) -> AsyncIterator[SessionManager]:
    """This application node: sessions in Redis through ResilientBackend."""
    async with make_node(server.url, key_prefix, clock, timer) as manager:
        yield manager


@pytest.fixture
async def other_node(server: RedisServer, key_prefix: str, clock: FakeClock) -> AsyncIterator[SessionManager]:
    """Another node, or an admin tool, talking to the same Redis directly."""
    backend = RedisBackend.from_url(server.url, key_prefix=key_prefix, socket_timeout=2)
    async with SessionManager(backend, Settings(key_prefix=key_prefix, **SETTINGS), clock=clock) as manager:
        yield manager


def make_node(
    url: str, key_prefix: str, clock: FakeClock, timer: FakeClock, *, near_cache_size: int = 100
) -> SessionManager:
    # The client cache off: these tests count the calls an outage costs, starting with the first read, which a
    # cached record would answer without reaching the hung server (test_client_cache.py covers the cache in a pause).
    primary = CountingRedisBackend.from_url(
        url,
        key_prefix=key_prefix,
        socket_timeout=CALL_TIMEOUT,
        socket_connect_timeout=CALL_TIMEOUT,
        client_cache=0,
    )
    breaker = CircuitBreaker(threshold=THRESHOLD, first_backoff=1, max_backoff=4, failover_window=0, timer=timer)
    backend = ResilientBackend(primary, call_timeout=CALL_TIMEOUT, breaker=breaker, near_cache_size=near_cache_size)
    return SessionManager(backend, Settings(key_prefix=key_prefix, **SETTINGS), clock=clock)


def resilient(manager: SessionManager) -> ResilientBackend:
    assert isinstance(manager.backend, ResilientBackend)
    return manager.backend


def primary_calls(manager: SessionManager) -> int:
    primary = resilient(manager).primary
    assert isinstance(primary, CountingRedisBackend)
    return primary.calls


async def signed_in(manager: SessionManager, token: str | None) -> Session:
    session = await manager.get(token)
    assert session is not None, "the user was signed out"
    return session


async def test_a_hung_redis_keeps_users_signed_in_and_loses_nothing(
    node: SessionManager, other_node: SessionManager, server: RedisServer, clock: FakeClock
) -> None:
    alice = await node.create(user_id="alice", data={"cart": ["tea"]})
    to_rotate = await node.create(data={"step": 1})
    to_logout = await node.create(user_id="carol")
    to_revoke = await node.create(user_id="dave")
    for session in (alice, to_rotate, to_logout, to_revoke):
        await signed_in(node, session.token)

    server.pause()
    clock.advance(10)
    with pytest.raises(BackendUnavailable):  # a timeout below the threshold: the near cache does not answer
        await node.get(alice.token)
    loaded = await signed_in(node, alice.token)  # the second timeout opens the breaker: memory answers
    loaded.data["cart"].append("cake")
    assert await node.save(loaded)
    rotated = await node.rotate(to_rotate.token)
    assert await node.delete(to_logout.token)
    assert await node.revoke(to_revoke.id)
    created = await node.create(data={"new": True})
    anonymous = await node.create(data={"basket": [3]})
    bob = await node.login(anonymous.token, "bob")

    health = await node.health()
    assert (health["status"], health["fallback_active"], health["breaker"]) == ("degraded", True, "open")
    assert health["journal_length"] > 0
    assert "did not answer" in health["last_error"]

    server.resume()
    assert await resilient(node).recover()

    health = await node.health()
    assert (health["status"], health["fallback_active"], health["journal_length"]) == ("ok", False, 0)
    # What Redis holds now, as any other node sees it:
    assert (await signed_in(other_node, alice.token)).data == {"cart": ["tea", "cake"]}
    assert (await signed_in(other_node, rotated.token)).data == {"step": 1}
    assert (await signed_in(other_node, created.token)).data == {"new": True}
    assert (await signed_in(other_node, bob.token)).data == {"basket": [3]}
    for ended in (to_rotate, to_logout, to_revoke, anonymous):
        assert await other_node.get(ended.token) is None
    assert await other_node.list_user_sessions("carol") == []
    assert [s.id for s in await other_node.list_user_sessions("bob")] == [bob.id]
    assert (await other_node.stats())["active_sessions"] == 4


async def test_a_restart_that_lost_everything_gets_the_near_cache_back(
    key_prefix: str, clock: FakeClock, timer: FakeClock
) -> None:
    with RedisServer.start(persistence=False) as server:
        async with make_node(server.url, key_prefix, clock, timer) as node:
            kept = [await node.create(user_id=f"user{i}", data={"i": i}) for i in range(5)]
            ended = await node.create(data={"bye": True})
            clock.advance(1)

            server.kill()
            with pytest.raises(BackendUnavailable):  # a read below the threshold: the near cache does not answer
                await node.get(kept[0].token)
            assert await node.delete(ended.token)  # a write: the breaker opens at once
            server.restart()  # empty
            assert await resilient(node).recover()

            stats = await node.stats()
            assert stats["sessions_written_back"] == 5  # all of `kept`; `ended` stays ended (journal)
            assert stats["active_sessions"] == 5
            for i, session in enumerate(kept):
                assert (await signed_in(node, session.token)).data == {"i": i}
            assert await node.get(ended.token) is None


async def test_a_restart_with_persistence_keeps_redis_as_it_was(
    node: SessionManager, other_node: SessionManager, server: RedisServer
) -> None:
    session = await node.create(data={"n": 1})
    other = await other_node.create(data={"not": "cached here"})

    server.kill()
    with pytest.raises(BackendUnavailable):  # below the threshold
        await node.get(session.token)
    loaded = await signed_in(node, session.token)  # the breaker opens: memory serves from the near cache
    loaded.data["n"] = 2
    await node.save(loaded)
    server.restart()  # same data (append-only file), new run_id: nothing to write back
    assert await resilient(node).recover()

    assert (await node.stats())["sessions_written_back"] == 0
    assert (await signed_in(other_node, session.token)).data == {"n": 2}
    assert (await signed_in(other_node, other.token)).data == {"not": "cached here"}


async def test_a_logout_elsewhere_during_the_outage_is_never_undone(
    node: SessionManager, other_node: SessionManager, clock: FakeClock
) -> None:
    saved_here = await node.create(user_id="alice", data={"n": 0})
    rotated_here = await node.create(user_id="alice")
    for session in (saved_here, rotated_here):
        await signed_in(node, session.token)

    resilient(node).breaker.trip()  # this node cannot reach Redis (a partition); the other node can
    clock.advance(1)
    copy = await signed_in(node, saved_here.token)
    copy.data["n"] = 1
    await node.save(copy)
    rotated = await node.rotate(rotated_here.token)
    clock.advance(1)
    await other_node.revoke_user_sessions("alice")  # "sign out everywhere", on the other node

    assert await resilient(node).recover()

    assert await other_node.get(saved_here.token) is None
    assert await other_node.get(rotated.token) is None
    assert await other_node.get(rotated_here.token) is None
    assert await other_node.list_user_sessions("alice") == []


async def test_the_newer_version_wins_when_both_sides_changed_a_session(
    node: SessionManager, other_node: SessionManager, clock: FakeClock
) -> None:
    older_here = await node.create(data={"who": "before"})
    newer_here = await node.create(data={"who": "before"})
    for session in (older_here, newer_here):
        await signed_in(node, session.token)
    resilient(node).breaker.trip()

    clock.advance(1)
    for session in (older_here, newer_here):
        copy = await signed_in(node, session.token)
        copy.data["who"] = "this node"
        await node.save(copy)
    clock.advance(1)
    elsewhere = await signed_in(other_node, older_here.token)
    elsewhere.data["who"] = "other node, later"
    await other_node.save(elsewhere)
    clock.advance(1)
    await signed_in(node, newer_here.token)  # read here last: this node's copy is the newer one

    assert await resilient(node).recover()

    assert (await signed_in(other_node, older_here.token)).data == {"who": "other node, later"}
    assert (await signed_in(other_node, newer_here.token)).data == {"who": "this node"}


async def test_sign_out_everywhere_during_the_outage_reaches_sessions_this_node_never_saw(
    node: SessionManager, other_node: SessionManager, clock: FakeClock
) -> None:
    unseen = await other_node.create(user_id="alice")
    mine = await node.create(user_id="alice")
    current = await node.create(user_id="alice")
    resilient(node).breaker.trip()
    clock.advance(1)

    assert await node.revoke_user_sessions("alice", except_session_id=current.id) == 1
    later = await node.login(None, "alice")
    assert await resilient(node).recover()

    assert await other_node.get(unseen.token) is None
    assert await other_node.get(mine.token) is None
    assert {s.id for s in await other_node.list_user_sessions("alice")} == {current.id, later.id}


async def test_an_outage_costs_one_timeout_then_one_call_per_probe(
    node: SessionManager, server: RedisServer, timer: FakeClock
) -> None:
    sessions = [await node.create(data={"i": i}) for i in range(20)]
    for session in sessions:
        await signed_in(node, session.token)
    server.pause()
    before = primary_calls(node)

    with pytest.raises(BackendUnavailable, match="cannot be confirmed"):  # below the threshold: no near cache
        await node.get(sessions[0].token)
    for session in sessions:  # the second failed read opens the breaker: from then on the near cache answers
        loaded = await signed_in(node, session.token)
        loaded.data["i"] = -1
        await node.save(loaded)
    assert primary_calls(node) - before == 2  # the two reads; the breaker is open since
    assert resilient(node).breaker.probes == 0

    for _ in range(3):  # each backoff that passes lets exactly one probe through, whatever the traffic
        timer.now += resilient(node).breaker.backoff
        for session in sessions:
            await signed_in(node, session.token)
        assert resilient(node)._recovery is not None
        assert not await resilient(node).recover()  # wait for the probe (it times out on the hung server)
    stats = await node.stats()
    assert primary_calls(node) - before == 2 + 3
    assert stats["probes"] == 3
    assert stats["served_by_fallback"] >= 3 * 20 + 2 * 20
    assert resilient(node).breaker.backoff == 4  # 1, 2, 4: capped

    server.resume()
    timer.now += 4
    await signed_in(node, sessions[0].token)  # starts the probe that now succeeds
    for _ in range(3):  # on a loaded machine the first probe after SIGCONT can miss its 200 ms: probe again
        if await resilient(node).recover():
            break
    assert (await node.health())["breaker"] == "closed"


async def test_redis_down_at_start_then_up(key_prefix: str, clock: FakeClock, timer: FakeClock) -> None:
    port = free_port()
    node = make_node(f"redis://127.0.0.1:{port}/0", key_prefix, clock, timer)
    async with node:
        assert (await node.health())["fallback_active"] is True
        session = await node.create(user_id="alice", data={"early": True})
        assert await resilient(node).recover() is False

        with RedisServer.start(port=port) as server:
            assert await resilient(node).recover()
            backend = RedisBackend.from_url(server.url, key_prefix=key_prefix)
            async with SessionManager(backend, Settings(key_prefix=key_prefix, **SETTINGS), clock=clock) as direct:
                assert (await signed_in(direct, session.token)).data == {"early": True}


async def test_closing_during_an_outage_hands_the_journal_over_when_redis_is_back(
    key_prefix: str, clock: FakeClock, timer: FakeClock, server: RedisServer, other_node: SessionManager
) -> None:
    async with make_node(server.url, key_prefix, clock, timer) as node:
        server.pause()
        session = await node.create(data={"late": True})
        server.resume()
    assert (await signed_in(other_node, session.token)).data == {"late": True}


async def test_logs_say_what_happened_and_never_a_token(
    node: SessionManager, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sessionhub"):
        session = await node.create(data={"x": 1})
        server.kill()
        await node.delete(session.token)
        assert not await resilient(node).recover()
        server.restart()
        assert await resilient(node).recover()
    assert "serving sessions from memory" in caplog.text
    assert "still unavailable" in caplog.text
    assert "is back after" in caplog.text
    assert "replayed 1 journal entries" in caplog.text
    assert session.token is not None
    assert session.token not in caplog.text


async def test_concurrent_requests_while_hung_all_succeed_once_the_breaker_opens(
    node: SessionManager, server: RedisServer
) -> None:
    sessions = [await node.create(data={"n": 0}) for _ in range(30)]
    for session in sessions:
        await signed_in(node, session.token)
    server.pause()

    async def request(session: Session) -> None:
        loaded = await signed_in(node, session.token)
        loaded.data["n"] = 1
        await node.save(loaded)

    results = await asyncio.gather(*(request(session) for session in sessions), return_exceptions=True)
    # The reads time out together: those failing below the threshold cannot be confirmed, the rest are served.
    refused = [session for session, result in zip(sessions, results, strict=True) if result is not None]
    assert all(isinstance(result, BackendUnavailable) for result in results if result is not None)
    assert len(refused) == THRESHOLD - 1
    server.resume()
    assert await resilient(node).recover()
    for session in sessions:
        assert (await signed_in(node, session.token)).data == {"n": 0 if session in refused else 1}


async def test_the_old_id_of_a_session_rotated_during_the_outage_cannot_end_its_successor(
    node: SessionManager, other_node: SessionManager
) -> None:
    first = await node.create(user_id="alice", data={"k": 1})
    second = await node.create(user_id="bob", data={"k": 2})
    for session in (first, second):
        await signed_in(node, session.token)
    resilient(node).breaker.trip()

    rotated_first = await node.rotate(first.token)
    rotated_second = await node.rotate(second.token)
    assert await node.revoke(first.id) is False  # the old id is already gone
    relogged = await node.login(second.token, "bob")  # an old token signs in afresh, carrying nothing
    assert relogged.data == {}
    assert await resilient(node).recover()

    assert (await signed_in(other_node, rotated_first.token)).data == {"k": 1}
    assert (await signed_in(other_node, rotated_second.token)).data == {"k": 2}
    assert await other_node.get(first.token) is None
    assert await other_node.get(second.token) is None
    assert {s.id for s in await other_node.list_user_sessions("bob")} == {rotated_second.id, relogged.id}


async def test_reads_during_an_outage_follow_the_touch_interval_and_only_slides_are_replayed(
    node: SessionManager, other_node: SessionManager, server: RedisServer, clock: FakeClock
) -> None:
    # SETTINGS' 600 s idle timeout caps the default 60 s touch interval at 60 s.
    session = await node.create(user_id="alice")
    server.pause()
    clock.advance(30)
    with pytest.raises(BackendUnavailable):  # fails below the threshold: the near cache does not answer
        await node.get(session.token)
    server.resume()
    resilient(node).breaker.trip()

    read = await signed_in(node, session.token)  # the fallback adopts the session; not due: nothing to replay
    assert read.last_active_at == session.last_active_at
    assert (await node.health())["journal_length"] == 0
    assert await resilient(node).recover()
    resilient(node).breaker.trip()  # the next outage still finds the session in the near cache
    clock.advance(30)
    slid = await signed_in(node, session.token)  # due: the slide is journalled and reaches Redis
    assert slid.last_active_at == session.last_active_at + timedelta(seconds=60)
    assert (await node.health())["journal_length"] == 1
    assert await resilient(node).recover()

    stored = await other_node.peek(session.id)
    assert stored is not None
    assert (stored.last_active_at, stored.expires_at) == (slid.last_active_at, slid.expires_at)


async def test_sessions_born_and_ended_during_the_outage_leave_nothing_to_replay(node: SessionManager) -> None:
    resilient(node).breaker.trip()
    for _ in range(50):
        session = await node.create(data={"short": "lived"})
        rotated = await node.rotate(session.token)
        signed = await node.login(rotated.token, "alice")
        await node.delete(signed.token)
    assert (await node.health())["journal_length"] == 0


async def test_admin_reads_work_through_an_outage_and_legacy_adoption_waits_for_redis(node: SessionManager) -> None:
    session = await node.create(user_id="alice", data={"x": 1})
    await signed_in(node, session.token)
    resilient(node).breaker.trip()

    peeked = await node.peek(session.id)
    assert peeked is not None
    assert peeked.data == {"x": 1}
    # Migrated sessions live in Redis only: "no session" now would clear the browser's legacy cookie for good.
    with pytest.raises(BackendUnavailable):
        await node.adopt_legacy("legacy-cookie-value-1234")

    assert await resilient(node).recover()
    assert await node.adopt_legacy("legacy-cookie-value-1234") is None


# -- conversations through an outage -------------------------------------------------------------------------------


async def contents_of(manager: SessionManager, token: str | None) -> list[str]:
    assert token is not None
    return [message.content for message in await manager.get_messages(token)]


async def test_a_conversation_goes_on_through_a_hung_redis_and_reaches_it_once(
    node: SessionManager, other_node: SessionManager, server: RedisServer, clock: FakeClock
) -> None:
    demo = await node.create_demo_session(industry="cruise", user_id="amira")
    ended = await node.create_demo_session(industry="hotel", user_id="bob")
    for session in (demo, ended):
        assert session.token is not None
        await node.add_message(session.token, "user", "before")

    server.pause()
    clock.advance(10)
    assert demo.token is not None
    # The first append waits for the hung server, times out and is served from memory; the command itself is still
    # in the server's socket and runs when it resumes: the replay must not add it twice.
    await node.add_message(demo.token, "user", "during 1")
    rotated = await node.rotate(demo.token)
    await node.add_message(rotated.token, "assistant", "during 2")
    assert await contents_of(node, rotated.token) == ["during 1", "during 2"]  # memory knows the outage's part
    assert ended.token is not None
    await node.add_message(ended.token, "user", "then signed out")
    assert await node.delete(ended.token)

    server.resume()
    assert await resilient(node).recover()

    for manager in (node, other_node):
        assert await contents_of(manager, rotated.token) == ["before", "during 1", "during 2"]
    backend = other_node.backend
    assert isinstance(backend, RedisBackend)
    leftovers = [backend.keys.messages(demo.id), backend.keys.messages(ended.id)]
    assert await backend.client.exists(*leftovers) == 0
    assert resilient(node).outage.outbox == {}


async def test_a_conversation_started_during_an_outage_is_written_back(
    node: SessionManager, other_node: SessionManager, server: RedisServer, clock: FakeClock
) -> None:
    server.pause()
    clock.advance(1)
    demo = await node.create_demo_session(industry="diving")  # pays the timeout; the breaker opens
    assert demo.token is not None
    for text in ("one", "two", "three"):
        await node.add_message(demo.token, "user", text)
    anonymous = await node.create_demo_session(industry="hotel")
    assert anonymous.token is not None
    await node.add_message(anonymous.token, "user", "carried by the login")
    signed_in = await node.login(anonymous.token, "amira")

    server.resume()
    assert await resilient(node).recover()

    assert await contents_of(other_node, demo.token) == ["one", "two", "three"]
    assert await contents_of(other_node, signed_in.token) == ["carried by the login"]
    status = await other_node.demo_status(signed_in.token)
    assert status is not None
    assert (status.user_id, status.industry, status.messages) == ("amira", "hotel", 1)


async def test_the_middleware_keeps_legacy_cookies_while_adoption_waits_for_redis(
    server: RedisServer, key_prefix: str, clock: FakeClock, timer: FakeClock
) -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from sessionhub.asgi import SessionMiddleware, get_session

    async def whoami(request: Request) -> JSONResponse:
        session = get_session(request)
        return JSONResponse({"user": session.user_id if session else None})

    config = Settings(key_prefix=key_prefix, legacy_cookie_names=["legacy_sid"], **SETTINGS)
    async with make_node(server.url, key_prefix, clock, timer) as node:
        node.settings = config
        app = Starlette(routes=[Route("/whoami", whoami)])
        app.add_middleware(SessionMiddleware, manager=node)
        resilient(node).breaker.trip()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as browser:
            response = await browser.get("/whoami", headers={"cookie": "legacy_sid=legacy-cookie-value-1234"})

    assert response.status_code == 200
    assert response.json() == {"user": None}
    assert "legacy_sid" not in response.headers.get("set-cookie", "")


async def test_the_security_log_is_read_from_redis_only_and_risk_works_through_an_outage(node: SessionManager) -> None:
    laptop = ClientInfo(ip="198.51.100.20", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    phone = ClientInfo(
        ip="198.51.100.20", user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5) Version/17.5 Safari/604"
    )
    session = await node.create(user_id="alice", client=laptop)
    resilient(node).breaker.trip()

    # Sessions keep working, risk included: it needs nothing but the session itself.
    flagged = await node.get(session.token, client=phone)
    assert flagged is not None
    assert flagged.risk is not None
    assert flagged.risk.level == "high"
    # A part of the log would mislead: reading it waits for Redis.
    with pytest.raises(BackendUnavailable):
        await node.security_events("alice")

    assert await resilient(node).recover()
    assert [event.type for event in await node.security_events("alice")] == ["created"]


async def test_metrics_show_the_fallback_while_it_serves(node: SessionManager) -> None:
    metrics = SessionMetrics(node, cache_seconds=0)
    await node.create()
    assert b"sessionhub_fallback_active 0.0" in await metrics.render()
    resilient(node).breaker.trip()
    text = await metrics.render()
    assert b"sessionhub_fallback_active 1.0" in text
    assert b"sessionhub_store_up 0.0" in text
    assert await resilient(node).recover()
    assert b"sessionhub_fallback_active 0.0" in await metrics.render()


async def test_a_session_revoked_elsewhere_is_never_served_from_the_near_cache_while_redis_is_reachable(
    node: SessionManager, other_node: SessionManager, server: RedisServer
) -> None:
    session = await node.create(user_id="alice")
    await signed_in(node, session.token)  # in this node's near cache now
    assert await other_node.revoke(session.id)  # another node signs it out in Redis

    async with uvicorn_server(build_app(node)) as base_url, httpx.AsyncClient(base_url=base_url) as browser:
        cookie = {"cookie": f"session_token={session.token}"}
        server.pause()  # one slow read, the breaker still closed: the near cache must not answer for Redis
        try:
            blip = await browser.get("/", headers=cookie)
        finally:
            server.resume()
        assert blip.status_code == 503
        assert blip.headers["retry-after"] == "1"
        assert blip.headers.get_list("set-cookie") == []  # the cookie is not cleared on a guess either
        assert resilient(node).breaker.is_closed

        after = await browser.get("/", headers=cookie)
        assert (after.status_code, after.json()["user"]) == (200, None)


async def test_unknown_tokens_are_counted_in_redis_for_every_node_and_here_during_an_outage(
    node: SessionManager, other_node: SessionManager
) -> None:
    for manager in (node, other_node):
        manager.token_abuse.threshold = 3
    guesser = ClientInfo(ip="192.0.2.66")
    guesses = iter(f"00{letter * 43}" for letter in "ABCDEFGH")
    for manager in (node, other_node, node):  # three in all, over two nodes: one shared count
        assert await manager.get(next(guesses), client=guesser) is None
    assert node.token_abuse.retry_after("192.0.2.66", node._clock()) is not None
    assert other_node.token_abuse.retry_after("192.0.2.66", other_node._clock()) is None  # told on its next one

    resilient(node).breaker.trip()  # Redis out: this node counts alone
    outsider = ClientInfo(ip="192.0.2.99")
    for _ in range(3):
        assert await node.get(next(guesses), client=outsider) is None
    assert node.token_abuse.retry_after("192.0.2.99", node._clock()) is not None


async def test_a_read_the_client_cache_answers_makes_no_call_and_keeps_the_near_cache(
    server: RedisServer, key_prefix: str, clock: FakeClock
) -> None:
    """The fast path: a read the primary serves from its client cache skips the call machinery (no timeout, no
    script), and still counts as the near cache's most recent use, so an outage then keeps that user signed in."""
    primary = CountingRedisBackend.from_url(server.url, key_prefix=key_prefix, socket_timeout=2)
    backend = ResilientBackend(primary, call_timeout=CALL_TIMEOUT, near_cache_size=2)
    async with SessionManager(backend, Settings(key_prefix=key_prefix, **SETTINGS), clock=clock) as manager:
        first, second, third = [await manager.create(user_id=name) for name in ("amira", "bea", "chen")]
        backend.near_cache.discard(first.id)  # as if pushed out: each is read from Redis once below
        backend.near_cache.discard(second.id)
        backend.near_cache.discard(third.id)
        await signed_in(manager, first.token)  # a miss: Redis answers, both caches remember
        await signed_in(manager, second.token)
        calls, hits = primary.calls, primary.cache.stats()["hits"] if primary.cache else 0

        again = await signed_in(manager, first.token)  # a hit

        assert primary.calls == calls
        assert primary.cache is not None
        assert primary.cache.stats()["hits"] == hits + 1
        assert again.user_id == "amira"
        await signed_in(manager, third.token)  # fills the near cache past its size: the least recent goes
        assert backend.near_cache.get(first.id) is not None
        assert backend.near_cache.get(second.id) is None
