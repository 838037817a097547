"""sessionhub for Django (the `django` extra): a session engine.

    SESSION_ENGINE = "sessionhub.django"
    SESSIONHUB = {"REDIS_URL": "redis://localhost:6379/0"}   # Settings fields in upper case; the environment after
    SESSION_COOKIE_NAME = "session_token"                      # the cookie the other services use, when sharing

`request.session` is then a sessionhub session, sync or async (`aget`, `aset`, `asave`, ... as Django 5 has them).
The key Django sees is the session's token. `django.contrib.auth`'s `login()` gives the session a new token
(`cycle_key`) and binds it to the user (`_auth_user_id` becomes the session's user id, so a user's sessions can be
listed and revoked from Django code, `sessions().list_user_sessions(str(user.pk))`, and from the CLI); `logout()`
ends it in the store. The cookie lives until the session's absolute deadline (or the browser closes, with
`SESSION_EXPIRE_AT_BROWSER_CLOSE` or `set_expiry(0)`); the store enforces the idle and absolute timeouts, so
`SESSION_COOKIE_AGE` and the rest of `set_expiry` do not apply. `clearsessions` has nothing to do: the store
expires sessions itself.

A Django project moving onto this engine from Django's own (its sessions migrated: `sessionhub migrate django-db` or
`django-cache`) keeps its users signed in: list its `SESSION_COOKIE_NAME` in `legacy_cookie_names`
(`SESSIONHUB = {"LEGACY_COOKIE_NAMES": ["sessionid"], ...}`), and a browser's old session key adopts its migrated
session once, under a new key that Django's middleware sets in the same cookie.

Django's middleware sets the cookie with its own settings (`SESSION_COOKIE_NAME`, `SESSION_COOKIE_SECURE`, ...);
give them the values sessionhub's other services use for the cookie to be shared.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase, UpdateError

from sessionhub.errors import SessionNotFound
from sessionhub.manager import SessionManager
from sessionhub.model import Session, SessionData
from sessionhub.settings import Settings
from sessionhub.sync import SyncSessionManager


class _Shared:
    """The process's SyncSessionManager, built from Django's settings on first use."""

    lock = threading.Lock()
    sessions: SyncSessionManager | None = None


def use_sessions(sessions: SyncSessionManager) -> None:
    """Serve the engine from this SyncSessionManager instead of one built from `settings.SESSIONHUB` (one the
    application builds itself, shared with its other code, or a test's)."""
    with _Shared.lock:
        _Shared.sessions = sessions


def sessions() -> SyncSessionManager:
    """The SyncSessionManager behind the engine (built from `settings.SESSIONHUB` on first use): list and revoke
    sessions, read security events, from Django code."""
    if _Shared.sessions is None:
        with _Shared.lock:
            if _Shared.sessions is None:
                config: Mapping[str, Any] = getattr(django_settings, "SESSIONHUB", {})
                _Shared.sessions = SyncSessionManager.from_settings(Settings.from_config(config))
    return _Shared.sessions


class SessionStore(SessionBase):
    """Django's SessionBase contract over sessionhub. Each operation is one coroutine of the async manager's,
    run from a sync caller (blocking on the manager's loop) or awaited from an async one."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._hub: Session | None = None

    @property
    def stored(self) -> Session | None:
        """The stored sessionhub session (public id, user, timestamps), loaded if need be; None while there is none."""
        self._held()
        return self._hub

    # -- the contract, sync and async ------------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        hub = sessions()
        found = hub.get(self.session_key)
        return self._loaded(found if found is not None else hub.call(self._adopted(hub.manager)))

    async def aload(self) -> dict[str, Any]:
        hub = sessions()
        found = hub.manager.get_from_memory(self.session_key)  # as the sync `get` does: no trip for a cached one
        if found is None:
            found = await hub.run_async(hub.manager.get(self.session_key))
        return self._loaded(found if found is not None else await hub.run_async(self._adopted(hub.manager)))

    def exists(self, session_key: str | None) -> bool:
        return sessions().call(_exists(sessions().manager, session_key))

    async def aexists(self, session_key: str | None) -> bool:
        return await sessions().run_async(_exists(sessions().manager, session_key))

    def create(self) -> None:
        sessions().call(self._create(sessions().manager))

    async def acreate(self) -> None:
        await sessions().run_async(self._create(sessions().manager))

    def save(self, must_create: bool = False) -> None:
        sessions().call(self._save(sessions().manager, self._held()))

    async def asave(self, must_create: bool = False) -> None:
        await sessions().run_async(self._save(sessions().manager, await self._aheld()))

    def delete(self, session_key: str | None = None) -> None:
        sessions().call(self._delete(sessions().manager, session_key))

    async def adelete(self, session_key: str | None = None) -> None:
        await sessions().run_async(self._delete(sessions().manager, session_key))

    def cycle_key(self) -> None:
        sessions().call(self._cycle(sessions().manager, self._held()))

    async def acycle_key(self) -> None:
        await sessions().run_async(self._cycle(sessions().manager, await self._aheld()))

    @classmethod
    def clear_expired(cls) -> None:
        print("sessionhub: nothing to clear; the session store expires sessions itself", file=sys.stderr)

    # -- expiry: the store's deadlines -------------------------------------------------------------------------

    def get_expiry_age(self, **kwargs: Any) -> int:
        """Seconds the cookie should live: until the session's absolute deadline."""
        hub = self._hub
        if hub is None:
            return int(sessions().settings.absolute_ttl)
        return max(0, int((hub.absolute_expires_at - datetime.now(UTC)).total_seconds()))

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        hub = self._hub
        return hub.absolute_expires_at if hub is not None else super().get_expiry_date(**kwargs)

    def get_expire_at_browser_close(self) -> bool:
        """A sign-in's "remember me" choice (sessionhub's `login(..., remember=...)`) wins over Django's settings."""
        hub = self._hub
        if hub is not None and hub.remembered is not None:
            return not hub.remembered
        return bool(super().get_expire_at_browser_close())

    # -- the operations, once --------------------------------------------------------------------------------

    async def _adopted(self, manager: SessionManager) -> Session | None:
        """The migrated session of a legacy session key (Django's own engine's, same cookie), adopted under a new
        key; None unless the cookie's name is one of `legacy_cookie_names`."""
        if self.session_key is None or django_settings.SESSION_COOKIE_NAME not in manager.settings.legacy_cookie_names:
            return None
        adopted = await manager.adopt_legacy(self.session_key)
        if adopted is not None:
            self.modified = True  # Django's middleware then sets the new key in the cookie
        return adopted

    def _loaded(self, hub: Session | None) -> dict[str, Any]:
        self._hub = hub
        if hub is None:
            self._session_key = None  # unknown or ended: the middleware clears the cookie
            return SessionData(codec=sessions().manager.codec)
        self._session_key = hub.token  # another one than the cookie's when a legacy session was adopted
        return hub.data

    async def _create(self, manager: SessionManager) -> None:
        """A new session with the data held so far, stored at once, under a new key."""
        data = getattr(self, "_session_cache", {})
        hub = await manager.create(data=data)
        self._become(hub)
        self.modified = True

    async def _save(self, manager: SessionManager, data: Mapping[str, Any]) -> None:
        hub = self._hub
        if hub is None or self.session_key is None:
            hub = await manager.create(data=data)
            self._become(hub)
        hub_data = self._held_in(hub, data)
        user = hub_data.get(SESSION_KEY)
        if user is not None and hub.user_id != str(user):
            # django.contrib.auth signed a user in: bind the session to them, as a sign-in (a new token).
            self._become(await manager.login(hub.token, str(user), data=hub_data))
            return
        try:
            await manager.save(hub)
        except SessionNotFound:
            raise UpdateError from None  # Django's middleware answers: the session ended during the request

    async def _delete(self, manager: SessionManager, session_key: str | None) -> None:
        token = session_key if session_key is not None else self.session_key
        if token is not None:
            await manager.delete(token)
        if token == self.session_key:
            self._hub = None

    async def _cycle(self, manager: SessionManager, data: Mapping[str, Any]) -> None:
        """A new token for the session, its data kept (django.contrib.auth's login calls it)."""
        hub = self._hub
        if hub is None or self.session_key is None:
            self._become(await manager.create(data=data))
            return
        held = self._held_in(hub, data)
        try:
            rotated = await manager.rotate(hub.token)
        except SessionNotFound:
            rotated = await manager.create(data=held)
        else:
            rotated.data = held
        self._become(rotated)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _held(self) -> dict[str, Any]:
        """Django's copy of the data, loaded if it was not (SessionBase's own accessor, which django-stubs lacks)."""
        held: dict[str, Any] = self._get_session()  # type: ignore[attr-defined]
        return held

    async def _aheld(self) -> dict[str, Any]:
        held: dict[str, Any] = await self._aget_session()  # type: ignore[attr-defined]
        return held

    def _become(self, hub: Session) -> None:
        self._hub = hub
        self._session_key = hub.token
        self._session_cache = hub.data

    def _held_in(self, hub: Session, data: Mapping[str, Any]) -> SessionData:
        """The data Django holds, as the stored session's data (which knows what is stored, to write only changes):
        Django replaces its cache with a plain dict on `clear()`."""
        if data is not hub.data:
            stored = hub.data
            for key in [key for key in stored if key not in data]:
                del stored[key]
            stored.update(data)
            self._session_cache = stored
        return hub.data


async def _exists(manager: SessionManager, token: str | None) -> bool:
    return await manager.get(token) is not None
