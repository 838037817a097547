"""SyncSessionManager: the SessionManager API for code without an event loop (Flask, Django, WSGI servers, Celery
workers, scripts).

    with SyncSessionManager.from_settings() as sessions:
        session = sessions.login(None, "amira")
        sessions.revoke_user_sessions("amira")

There is one implementation of the rules: each call runs the async `SessionManager` method of the same name, on a
private event loop in a daemon thread that owns the store's connections. Any number of threads may call at once;
their calls run concurrently on that loop. A thread that runs an event loop of its own may call too (it blocks for
the call, as any sync call does). In a process forked after the manager started (gunicorn's `--preload`), the
child starts a loop and connections of its own on its first call and never touches the parent's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from sessionhub.client import ClientInfo
from sessionhub.errors import BackendUnavailable
from sessionhub.manager import SessionManager
from sessionhub.model import Session
from sessionhub.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

CALL_TIMEOUT = 30.0
"""Seconds a call may take at most. The store's own timeouts end a call long before (the resilient layer's is a
quarter of a second); this bounds a caller's wait should the loop itself be stuck."""


class _Loop:
    """The private event loop of one process, the thread running it, and the manager opened on it."""

    def __init__(self, make_manager: Callable[[], SessionManager]) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sessionhub-sync", daemon=True)
        self.thread.start()
        self.manager: SessionManager = self.run(self._open(make_manager), CALL_TIMEOUT)

    @staticmethod
    async def _open(make_manager: Callable[[], SessionManager]) -> SessionManager:
        manager = make_manager()  # built on the loop that will use its connections
        await manager.open()
        return manager

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        if threading.get_ident() == self.thread.ident:
            coroutine.close()
            raise RuntimeError("SyncSessionManager called from its own event loop: await the SessionManager instead")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BackendUnavailable(f"the session store did not answer within {timeout:g} s") from None

    def stop(self) -> None:
        try:
            self.run(self.manager.close(), CALL_TIMEOUT)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(CALL_TIMEOUT)
            self.loop.close()


def _blocking(
    method: Callable[Concatenate[SessionManager, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[SyncSessionManager, P], T]:
    """The sync twin of a SessionManager coroutine method: same name, parameters, result and docstring."""
    name = method.__name__

    def call(self: SyncSessionManager, /, *args: P.args, **kwargs: P.kwargs) -> T:
        coroutine: Coroutine[Any, Any, T] = getattr(self.manager, name)(*args, **kwargs)
        return self.call(coroutine)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = method.__doc__
    return call


_instances: weakref.WeakSet[SyncSessionManager] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The parent's loop thread does not exist here, and its lock may have been held by a thread that does not
    # either: the child starts afresh on its first call.
    for instance in _instances:
        instance._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SyncSessionManager:
    """Blocking calls into one `SessionManager`, which it builds with `make_manager` and opens on first use (or
    on `open`/`with`)."""

    def __init__(self, make_manager: Callable[[], SessionManager], *, timeout: float = CALL_TIMEOUT) -> None:
        self._make_manager = make_manager
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: _Loop | None = None
        _instances.add(self)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SyncSessionManager:
        """The store stack the settings name, as `SessionManager.from_settings` builds it."""
        settings = settings if settings is not None else Settings()
        return cls(lambda: SessionManager.from_settings(settings))

    def _loop(self) -> _Loop:
        running = self._running
        if running is not None and running.pid == os.getpid():
            return running
        with self._lock:
            running = self._running
            if running is None or running.pid != os.getpid():
                running = self._running = _Loop(self._make_manager)
            return running

    @property
    def manager(self) -> SessionManager:
        """The async manager behind the calls (its settings, codec and observers), started if it was not."""
        return self._loop().manager

    @property
    def settings(self) -> Settings:
        return self.manager.settings

    def open(self) -> None:
        self._loop()

    def close(self) -> None:
        with self._lock:
            running, self._running = self._running, None
        if running is not None and running.pid == os.getpid():
            running.stop()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine of the manager's (or one that awaits its methods) on its loop, and wait for the result."""
        return self._loop().run(coroutine, self.timeout)

    async def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await a coroutine of the manager's from another event loop (Django's async views), without blocking it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop().loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)

    def authentication_age(self, session: Session) -> float | None:
        return self.manager.authentication_age(session)

    def save(self, session: Session) -> bool:
        """As `SessionManager.save`. Whether anything changed is found in this thread: a session with nothing to
        write (most requests) costs no trip to the manager's loop."""
        manager = self.manager
        changes = manager.pending_changes(session)
        return self.call(manager.write_changes(session, changes)) if changes else False

    def get(self, token: str | None, *, client: ClientInfo | None = None) -> Session | None:
        """As `SessionManager.get`. A session this process's memory answers (Redis's client cache, which Redis keeps
        in step) is read in this thread, with no trip to the manager's loop; anything else goes there."""
        manager = self.manager
        found = manager.get_from_memory(token, client=client)
        return found if found is not None else self.call(manager.get(token, client=client))

    create = _blocking(SessionManager.create)
    rotate = _blocking(SessionManager.rotate)
    login = _blocking(SessionManager.login)
    reauthenticated = _blocking(SessionManager.reauthenticated)
    delete = _blocking(SessionManager.delete)
    revoke = _blocking(SessionManager.revoke)
    list_user_sessions = _blocking(SessionManager.list_user_sessions)
    browse_sessions = _blocking(SessionManager.browse_sessions)
    revoke_user_sessions = _blocking(SessionManager.revoke_user_sessions)
    security_events = _blocking(SessionManager.security_events)
    stats = _blocking(SessionManager.stats)
    health = _blocking(SessionManager.health)
    peek = _blocking(SessionManager.peek)
    adopt_legacy = _blocking(SessionManager.adopt_legacy)
    adopt_legacy_cookies = _blocking(SessionManager.adopt_legacy_cookies)
    import_sessions = _blocking(SessionManager.import_sessions)
    import_markers = _blocking(SessionManager.import_markers)
    create_demo_session = _blocking(SessionManager.create_demo_session)
    add_message = _blocking(SessionManager.add_message)
    get_messages = _blocking(SessionManager.get_messages)
    set_progress = _blocking(SessionManager.set_progress)
    demo_status = _blocking(SessionManager.demo_status)
