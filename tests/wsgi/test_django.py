"""sessionhub.django: the session engine against Django's SessionBase contract (the cases of Django's own session
tests that apply), sync and async, with django.contrib.auth, through Django's test client and under waitress, on
memory, Redis (alone and resilient) and Cluster."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings
from django.test import Client, override_settings

from sessionhub.django import SessionStore, sessions, use_sessions
from sessionhub.migrate import DjangoDatabaseSource, Migrator, SqliteReader
from sessionhub.sync import SyncSessionManager
from tests.migrate.test_django_sources import legacy_django
from tests.support.managers import MakeSync
from tests.wsgi.django_app import COOKIE, wsgi_app
from tests.wsgi.servers import waitress_server

THREADS = 16


@pytest.fixture(autouse=True)
def engine(make_sync: MakeSync) -> SyncSessionManager:
    hub = make_sync(session_ttl=600, absolute_ttl=3600)
    use_sessions(hub)
    return hub


@pytest.fixture
def store() -> SessionStore:
    return SessionStore()


# -- the SessionBase contract --------------------------------------------------------------------------------------


def test_new_session_is_empty_and_unsaved(store: SessionStore) -> None:
    assert store.session_key is None
    assert not store.modified
    assert list(store.items()) == []
    assert store.is_empty()


def test_save_then_load_in_another_store(store: SessionStore) -> None:
    store["cart"] = ["ink"]
    store.save()
    assert store.session_key is not None
    assert store.exists(store.session_key)

    again = SessionStore(store.session_key)
    assert again["cart"] == ["ink"]
    again["cart"].append("paper")  # a nested change: written though Django's `modified` is False
    again.save()
    assert SessionStore(store.session_key)["cart"] == ["ink", "paper"]


def test_setdefault_pop_update_and_delete_keys(store: SessionStore) -> None:
    store.update({"a": 1, "b": 2})
    assert store.setdefault("c", 3) == 3
    assert store.pop("a") == 1
    del store["b"]
    store.save()
    assert dict(SessionStore(store.session_key).items()) == {"c": 3}


def test_cycle_key_keeps_the_data_under_a_new_key(store: SessionStore) -> None:
    store["a"], store["b"] = "c", "d"
    store.save()
    previous_key, previous_data = store.session_key, list(store.items())

    store.cycle_key()

    assert not store.exists(previous_key)
    assert store.session_key != previous_key
    assert list(store.items()) == previous_data
    store.save()
    assert list(SessionStore(store.session_key).items()) == previous_data


def test_cycle_key_of_a_session_never_saved_creates_it(store: SessionStore) -> None:
    store["a"] = 1
    store.cycle_key()
    assert store.session_key is not None
    assert SessionStore(store.session_key)["a"] == 1


def test_flush_deletes_it_and_forgets_the_key(store: SessionStore) -> None:
    store["x"] = "y"
    store.save()
    key = store.session_key
    store.flush()
    assert store.session_key is None
    assert not store.exists(key)
    assert list(store.items()) == []


def test_delete_by_key_and_clear(store: SessionStore) -> None:
    store["x"] = 1
    store.save()
    key = store.session_key
    SessionStore().delete(key)
    assert not store.exists(key)

    kept = SessionStore()
    kept.update({"a": 1, "b": 2})
    kept.save()
    kept.clear()  # Django swaps in a plain dict: the store still writes only the change
    kept["c"] = 3
    kept.save()
    assert dict(SessionStore(kept.session_key).items()) == {"c": 3}


def test_an_unknown_or_malformed_key_loads_empty_and_is_dropped() -> None:
    for key in ["0a" + "A" * 43, "not-a-sessionhub-token"]:
        store = SessionStore(key)
        assert list(store.items()) == []
        assert store.session_key is None
        assert not store.exists(key)


def test_expiry_follows_the_stores_deadlines(store: SessionStore) -> None:
    assert store.get_expiry_age() == 3600
    store["a"] = 1
    store.save()
    assert 3590 <= store.get_expiry_age() <= 3600
    assert not store.get_expire_at_browser_close()
    store.set_expiry(0)
    assert store.get_expire_at_browser_close()


def test_clearsessions_says_why_it_does_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    SessionStore.clear_expired()
    assert "expires sessions itself" in capsys.readouterr().err


async def test_the_async_methods(engine: SyncSessionManager) -> None:
    store = SessionStore()
    await store.aset("a", 1)
    await store.asave()
    key = store.session_key
    assert await store.aexists(key)
    again = SessionStore(key)
    assert await again.aget("a") == 1
    await again.acycle_key()
    assert again.session_key != key
    assert not await again.aexists(key)
    await again.aflush()
    assert again.session_key is None


def test_sixteen_threads_at_once(engine: SyncSessionManager) -> None:
    def one(number: int) -> int:
        store = SessionStore()
        store["n"] = number
        store.save()
        loaded = SessionStore(store.session_key)
        loaded["n"] += 1
        loaded.save()
        value: int = SessionStore(store.session_key)["n"]
        return value

    with ThreadPoolExecutor(THREADS) as pool:
        assert list(pool.map(one, range(THREADS * 4))) == [n + 1 for n in range(THREADS * 4)]


# -- through Django's middleware, with django.contrib.auth ------------------------------------------------------


def test_django_login_binds_the_user_and_logout_ends_the_session(engine: SyncSessionManager) -> None:
    client = Client()
    client.get("/write", {"theme": "dark"})
    anonymous = client.cookies[COOKIE].value

    signed_in = client.get("/login/amira")

    token = client.cookies[COOKIE].value
    assert token != anonymous
    assert engine.get(anonymous) is None
    assert signed_in.json()["data"]["theme"] == "dark"
    listed = engine.list_user_sessions(signed_in.json()["data"]["_auth_user_id"])
    assert [session.user_id for session in listed] == [signed_in.json()["data"]["_auth_user_id"]]
    assert client.get("/").json()["auth"] is True

    client.get("/logout")
    assert engine.get(token) is None
    assert client.get("/").json()["auth"] is False


def test_revoking_from_python_signs_the_browser_out(engine: SyncSessionManager) -> None:
    client = Client()
    user = client.get("/login/bea").json()["data"]["_auth_user_id"]
    assert sessions().revoke_user_sessions(user) == 1
    response = client.get("/")
    assert response.json()["auth"] is False


def test_under_waitress_with_threads(engine: SyncSessionManager) -> None:
    with waitress_server(wsgi_app()) as url, httpx.Client(base_url=url) as browser:
        browser.get("/write", params={"cart": "ink"})
        browser.get("/login/amira")
        answer = browser.get("/").json()
    assert answer["auth"] is True
    assert answer["data"]["cart"] == "ink"


# -- a Django project moving onto this engine from Django's own ----------------------------------------------------


def test_a_project_moved_onto_this_engine_keeps_its_users_signed_in(make_sync: MakeSync) -> None:
    """The same project (its users, its SECRET_KEY), first on Django's database engine, its sessions migrated, then
    on sessionhub's with its cookie name listed in legacy_cookie_names: the old `sessionid` signs the user in, once,
    under a new key in the same cookie."""
    database = str(settings.DATABASES["default"]["NAME"])
    legacy = {"ENGINE": "django.db.backends.sqlite3", "NAME": database}
    cookies = legacy_django(
        {"engine": "db", "database": legacy, "secret_key": settings.SECRET_KEY}, [["sign_in", "dan"]]
    )
    hub = make_sync(legacy_cookie_names=["sessionid"])
    use_sessions(hub)
    reader = SqliteReader(database)
    try:
        report = hub.call(Migrator(DjangoDatabaseSource(settings.SECRET_KEY), reader, hub.manager).run())
    finally:
        hub.call(reader.aclose())
    assert report.migrated >= 1

    with override_settings(SESSION_COOKIE_NAME="sessionid"):
        client = Client()
        client.cookies["sessionid"] = cookies["dan"]
        first = client.get("/").json()
        adopted = client.cookies["sessionid"].value
        second = client.get("/").json()
        replay = Client()
        replay.cookies["sessionid"] = cookies["dan"]
        replayed = replay.get("/").json()

    assert first["auth"] is True, "django.contrib.auth finds its user in the migrated session"
    assert first["user"] == first["data"]["_auth_user_id"]
    assert first["data"]["cart"] == ["lamp", "oil"]
    assert adopted != cookies["dan"]
    assert second["auth"] is True
    assert replayed["auth"] is False, "a legacy session key works once"
