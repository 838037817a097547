"""The sync API: the manager's calls without an event loop, from many threads at once, beside a running event loop
and after fork; one implementation of the rules (the async manager's), so only the plumbing is tested here."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sessionhub import ClientInfo, SessionDataError, SessionLimitExceeded, SessionNotFound
from sessionhub.sync import SyncSessionManager
from tests.support.managers import MakeSync

THREADS = 16


def test_the_session_lifecycle_without_an_event_loop(make_sync: MakeSync) -> None:
    with make_sync() as sessions:
        anonymous = sessions.create(data={"cart": ["ink"]}, client=ClientInfo(ip="198.51.100.7"))
        signed_in = sessions.login(anonymous.token, "amira")
        assert signed_in.data == {"cart": ["ink"]}
        assert sessions.get(anonymous.token) is None  # login gave a new token

        signed_in.data["theme"] = "dark"
        assert sessions.save(signed_in)
        rotated = sessions.rotate(signed_in.token)
        loaded = sessions.get(rotated.token)
        assert loaded is not None
        assert (loaded.user_id, loaded.data) == ("amira", {"cart": ["ink"], "theme": "dark"})
        assert [s.id for s in sessions.list_user_sessions("amira")] == [rotated.id]
        assert sessions.stats()["active_sessions"] == 1
        assert sessions.health()["status"] == "ok"
        assert sessions.authentication_age(loaded) is not None

        assert sessions.revoke_user_sessions("amira") == 1
        assert sessions.get(rotated.token) is None
        assert "revoked" in {event.type for event in sessions.security_events("amira")}


def test_errors_are_the_managers(make_sync: MakeSync) -> None:
    with make_sync(max_sessions_per_user=1, limit_policy="reject") as sessions:
        with pytest.raises(SessionDataError):
            sessions.create(data={"when": object()})
        sessions.login(None, "amira")
        with pytest.raises(SessionLimitExceeded):
            sessions.login(None, "amira")
        with pytest.raises(SessionNotFound):
            sessions.rotate("0a" + "x" * 43)


def test_conversations_work_through_the_sync_api(make_sync: MakeSync) -> None:
    with make_sync() as sessions:
        demo = sessions.create_demo_session(user_id="amira", industry="cruise")
        sessions.add_message(demo.token, "user", "Where do we dock in Aswan?")
        sessions.set_progress(demo.token, step=1, total=3, status="asked")
        assert [message.content for message in sessions.get_messages(demo.token)] == ["Where do we dock in Aswan?"]
        status = sessions.demo_status(demo.token)
        assert status is not None
        assert (status.industry, status.step) == ("cruise", 1)


def test_many_threads_at_once_keep_the_session_limit(make_sync: MakeSync) -> None:
    """16 threads sign the same user in at once: the limit holds exactly, every call answered."""
    with make_sync(max_sessions_per_user=3) as sessions:
        with ThreadPoolExecutor(THREADS) as pool:
            logins = list(pool.map(lambda _: sessions.login(None, "amira"), range(THREADS * 4)))
        assert len({session.id for session in logins}) == THREADS * 4
        live = sessions.list_user_sessions("amira")
        assert len(live) == 3

        def bump(token: str) -> None:
            for _ in range(10):
                session = sessions.get(token)
                assert session is not None
                session.data[threading.current_thread().name] = session.data.get("n", 0) + 1
                sessions.save(session)

        survivor = next(session for session in logins if session.id in {s.id for s in live})
        assert survivor.token is not None
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda _: bump(survivor.token or ""), range(THREADS)))
        final = sessions.get(survivor.token)
        assert final is not None
        assert len(final.data) == len({name for name in final.data})  # one key per thread that wrote


def test_a_thread_running_its_own_event_loop_may_call(make_sync: MakeSync) -> None:
    with make_sync() as sessions:
        created = sessions.create(user_id="amira")

        async def inside_a_loop() -> str | None:
            found = sessions.get(created.token)  # blocks this loop for the call, as a sync call does
            return found.user_id if found else None

        assert asyncio.run(inside_a_loop()) == "amira"


async def test_an_async_caller_on_another_loop_awaits_without_blocking(make_sync: MakeSync) -> None:
    sessions = make_sync()
    created = sessions.create(user_id="amira")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        for _ in range(3):
            ticks += 1
            await asyncio.sleep(0)

    found, _ = await asyncio.gather(sessions.run_async(sessions.manager.get(created.token)), tick())
    assert found is not None
    assert found.user_id == "amira"
    assert ticks == 3


def test_the_managers_own_loop_may_not_call_back(make_sync: MakeSync) -> None:
    sessions = make_sync()
    sessions.open()

    async def from_inside() -> None:
        sessions.get(None)

    call = asyncio.run_coroutine_threadsafe(from_inside(), sessions._loop().loop)
    with pytest.raises(RuntimeError, match="its own event loop"):
        call.result(5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_loop_and_connections(make_sync: MakeSync, sync_backend: str) -> None:
    """gunicorn --preload: the parent started the manager, then forked; each side keeps working on its own (on
    Redis the child reads the parent's sessions; a memory store is the process's own)."""
    sessions = make_sync()
    created = sessions.create(user_id="amira", data={"n": 1})
    parent_loop = sessions._loop()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (runs in the child, which reports through the pipe)
        try:
            found = sessions.get(created.token)
            fresh = sessions._loop() is not parent_loop
            made = sessions.create(user_id="bea")
            shared = found is not None and found.data == {"n": 1}
            ok = (shared or sync_backend == "memory") and fresh and made.user_id == "bea"
            os.write(write, b"ok" if ok else b"wrong")
        except BaseException as exc:
            os.write(write, repr(exc).encode()[:200])
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    answer = os.read(read, 256)
    os.close(read)
    assert answer == b"ok", answer
    assert os.waitstatus_to_exitcode(status) == 0
    assert sessions._loop() is parent_loop
    assert sessions.get(created.token) is not None  # the parent's connections still work


def test_it_starts_lazily_and_reopens_after_close(make_sync: MakeSync, sync_backend: str) -> None:
    sessions = make_sync()
    assert sessions._running is None
    created = sessions.create()
    sessions.close()
    assert sessions._running is None
    reopened = sessions.get(created.token)  # a new manager: on Redis the same sessions, on memory a new store
    assert (reopened is not None) == (sync_backend != "memory")


def test_from_settings_builds_the_default_stack() -> None:
    with SyncSessionManager.from_settings() as sessions:
        assert sessions.manager.backend.name == "memory"
        assert sessions.get(sessions.create().token) is not None


def test_a_read_the_client_cache_answers_never_goes_to_the_loop(make_sync: MakeSync, sync_backend: str) -> None:
    """On one Redis with its client cache, a repeated read is answered in the calling thread; the rest (a miss, a
    write) goes to the manager's loop. Elsewhere (memory, Cluster: no client cache) every call goes there."""
    sessions = make_sync()
    created = sessions.create(user_id="amira", data={"n": 1})
    assert sessions.get(created.token) is not None  # a miss: read from Redis, and now cached
    loop = sessions._loop()
    hops = 0
    real_run = loop.run

    def counted(coroutine: Any, timeout: float) -> Any:
        nonlocal hops
        hops += 1
        return real_run(coroutine, timeout)

    loop.run = counted  # type: ignore[method-assign]
    again = sessions.get(created.token, client=ClientInfo(ip="198.51.100.7"))
    assert again is not None
    assert again.data == {"n": 1}
    cached_here = sync_backend in ("redis", "resilient")
    assert hops == (0 if cached_here else 1)
    assert again.risk is not None  # the read still compared the client, in this thread


@pytest.mark.parametrize("sync_backend", ["redis", "resilient", "cluster"], indirect=True)  # shared stores only
def test_a_revocation_elsewhere_reaches_threads_reading_from_memory(make_sync: MakeSync) -> None:
    """Threads reading a cached session in a loop stop seeing it once another process revokes it: Redis tells the
    client cache, and the reads in the calling threads follow (docs/client-cache.md bounds the window)."""
    sessions, elsewhere = make_sync(), make_sync()
    elsewhere.open()  # started before the readers, which keep both processes' threads busy
    created = sessions.create(user_id="amira")
    assert sessions.get(created.token) is not None
    revoked_at: list[float] = []
    seen_after: list[float] = []

    def reader() -> None:
        while not revoked_at or time.monotonic() - revoked_at[0] < 10:
            if sessions.get(created.token) is None:
                seen_after.append(time.monotonic())
                return

    with ThreadPoolExecutor(THREADS) as pool:
        readers = [pool.submit(reader) for _ in range(THREADS)]
        time.sleep(0.05)
        assert elsewhere.revoke_user_sessions("amira") == 1
        revoked_at.append(time.monotonic())
        for future in readers:
            future.result()
    assert len(seen_after) == THREADS, "a thread kept seeing a revoked session for 10 s"
