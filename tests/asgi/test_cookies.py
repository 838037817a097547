"""The cookie's attributes: from Settings, overridden per middleware, validated like any setting."""

from __future__ import annotations

from typing import Any

import pytest

from sessionhub import ConfigurationError, SessionManager, Settings
from sessionhub.asgi import SessionMiddleware
from sessionhub.asgi.paths import PathPrefixes
from sessionhub.cookies import CookiePolicy
from tests.asgi.app import build_app
from tests.asgi.conftest import MakeClient, MakeCountedManager
from tests.asgi.test_middleware import session_cookie


def test_defaults_are_host_only_lax_httponly_on_every_path() -> None:
    policy = CookiePolicy.from_settings(Settings())
    assert policy.set_cookie("t", 60) == "session_token=t; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
    assert policy.clear_cookie() == (
        "session_token=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
    )


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_COOKIE_NAME", "sid")
    monkeypatch.setenv("COOKIE_SECURE", "true")
    monkeypatch.setenv("SESSIONHUB_SESSION_COOKIE_SAMESITE", "strict")
    monkeypatch.setenv("SESSIONHUB_SESSION_COOKIE_DOMAIN", "example.com")
    monkeypatch.setenv("SESSIONHUB_SESSION_COOKIE_PATH", "/app")

    policy = CookiePolicy.from_settings(Settings())

    assert (
        policy.set_cookie("t", 5)
        == "__Secure-sid=t; Path=/app; Max-Age=5; Domain=example.com; Secure; HttpOnly; SameSite=Strict"
    )


@pytest.mark.parametrize(
    ("settings", "name", "unprefixed"),
    [
        ({}, "session_token", None),  # no Secure: no prefix (http://localhost)
        ({"session_cookie_secure": True}, "__Host-session_token", "session_token"),
        ({"session_cookie_secure": True, "session_cookie_domain": "a.b"}, "__Secure-session_token", "session_token"),
        ({"session_cookie_secure": True, "session_cookie_path": "/app"}, "__Secure-session_token", "session_token"),
        ({"session_cookie_secure": True, "session_cookie_read_unprefixed": False}, "__Host-session_token", None),
        ({"session_cookie_secure": True, "session_cookie_host_prefix": False}, "session_token", None),
        ({"session_cookie_host_prefix": True}, "__Host-session_token", None),  # chosen: nothing to move
        ({"session_cookie_secure": True, "session_cookie_name": "__Host-sid"}, "__Host-sid", None),
        ({"session_cookie_name": "__Secure-sid"}, "__Secure-sid", None),
    ],
)
def test_secure_cookies_get_the_strongest_prefix_their_attributes_allow(
    settings: dict[str, Any], name: str, unprefixed: str | None
) -> None:
    policy = CookiePolicy.from_settings(Settings(**settings))
    assert (policy.name, policy.unprefixed_name) == (name, unprefixed)
    # Browsers drop a prefixed cookie without Secure.
    assert policy.secure == (name.startswith("__") or settings.get("session_cookie_secure", False))


def test_the_host_prefix_forces_secure_and_renames_the_cookie() -> None:
    policy = CookiePolicy.from_settings(Settings(session_cookie_host_prefix=True))
    assert policy.name == "__Host-session_token"
    assert policy.set_cookie("t", 5) == "__Host-session_token=t; Path=/; Max-Age=5; Secure; HttpOnly; SameSite=Lax"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"session_cookie_host_prefix": True, "session_cookie_domain": "example.com"}, "host_prefix"),
        ({"session_cookie_host_prefix": True, "session_cookie_path": "/app"}, "host_prefix"),
        ({"session_cookie_samesite": "none"}, "samesite"),
        ({"session_cookie_samesite": "sometimes"}, "session_cookie_samesite"),
        ({"session_cookie_path": "/a; Domain=evil.example"}, "session_cookie_path"),
        ({"session_cookie_path": "relative"}, "session_cookie_path"),
        ({"session_cookie_domain": "evil.example; Secure"}, "session_cookie_domain"),
    ],
)
def test_contradictory_or_injecting_settings_fail_at_start_up(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Settings(**settings)


def test_samesite_none_is_accepted_with_secure() -> None:
    policy = CookiePolicy.from_settings(Settings(session_cookie_samesite="none", session_cookie_secure=True))
    assert policy.set_cookie("t", 1).endswith("; Secure; HttpOnly; SameSite=None")


def test_overrides_are_validated_like_settings() -> None:
    settings = Settings()
    assert CookiePolicy.from_settings(settings, samesite="strict").samesite == "Strict"
    with pytest.raises(ConfigurationError, match="session_cookie_path"):
        CookiePolicy.from_settings(settings, path="/x;y")
    with pytest.raises(TypeError, match="unknown cookie option"):
        CookiePolicy.from_settings(settings, httponly=False)


def test_the_cookie_is_read_from_every_cookie_header_first_one_wins() -> None:
    policy = CookiePolicy.from_settings(Settings())
    headers = [
        (b"accept", b"session_token=not-a-cookie-header"),
        (b"cookie", b"a=1; xsession_token=no"),
        (b"cookie", b"session_token =first; session_token=second"),
    ]
    assert policy.token_in(headers) == "first"
    assert policy.token_in([(b"cookie", b"session_token")]) is None
    assert policy.token_in([]) is None


def test_path_prefixes_cover_the_path_and_what_is_under_it() -> None:
    prefixes = PathPrefixes(["/static", "/health/"])
    assert "/static" in prefixes
    assert "/static/app.css" in prefixes
    assert "/staticky" not in prefixes
    assert "/health" in prefixes
    assert "/" not in prefixes
    assert "/anything" in PathPrefixes(["/"])
    with pytest.raises(ValueError, match="must start with '/'"):
        PathPrefixes(["static"])
    with pytest.raises(TypeError, match="not one string"):
        PathPrefixes("/static")


async def test_middleware_overrides_reach_the_response(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager(session_cookie_name="sid")
    client = await make_client(build_app(manager, samesite="strict", path="/", domain=None))

    response = await client.get("/write", params={"a": "1"})

    cookie = session_cookie(response, name="sid")
    assert cookie is not None
    assert cookie["samesite"] == "Strict"
    assert (await client.get("/")).json()["data"] == {"a": "1"}


async def test_the_cookie_lives_until_the_absolute_deadline(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    # The idle deadline slides on reads, which send no cookie, so a cookie living only one idle timeout would sign
    # out a user who keeps reading.
    manager: SessionManager = await make_counted_manager(session_ttl=30.5, absolute_ttl=7200)
    client = await make_client(build_app(manager))
    cookie = session_cookie(await client.get("/login/amira"))
    assert cookie is not None
    assert cookie["max-age"] == "7200"


async def test_a_deployment_turning_secure_on_moves_its_users_to_the_prefixed_cookie(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager(session_cookie_secure=True)
    client = await make_client(build_app(manager))
    # Signed in before the upgrade: the browser holds the cookie under its bare name.
    before = await manager.create(user_id="amira", data={"cart": ["tea"]})
    bare = {"cookie": f"session_token={before.token}"}

    moved = await client.get("/", headers=bare)

    assert moved.json()["data"] == {"cart": ["tea"]}
    cookie = session_cookie(moved, name="__Host-session_token")
    assert cookie is not None
    assert cookie["__Host-session_token"] != before.token  # a new token: the bare one may have been planted
    assert {"secure", "httponly"} <= cookie.keys()
    assert (cookie["path"], cookie.get("domain")) == ("/", None)
    cleared = session_cookie(moved, name="session_token")
    assert cleared is not None
    assert cleared["max-age"] == "0"
    assert (await client.get("/", headers=bare)).json()["user"] is None  # moved once: the bare token is dead
    prefixed = {"cookie": f"__Host-session_token={cookie['__Host-session_token']}"}
    assert (await client.get("/", headers=prefixed)).json()["user"] == "amira"


async def test_a_bare_cookie_that_is_not_ours_is_left_alone(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager(session_cookie_secure=True)
    client = await make_client(build_app(manager))

    response = await client.get("/", headers={"cookie": "session_token=another-apps-value"})

    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == []


def test_max_age_caps_the_cookie_or_makes_it_a_browser_session_cookie() -> None:
    assert (
        CookiePolicy.from_settings(Settings())
        .set_cookie("t", 7200.2)
        .startswith("session_token=t; Path=/; Max-Age=7201;")
    )
    capped = CookiePolicy.from_settings(Settings(session_cookie_max_age=3600))
    assert "Max-Age=3600;" in capped.set_cookie("t", 7200)
    assert "Max-Age=60;" in capped.set_cookie("t", 60)  # never past the session's absolute deadline
    browser_session = CookiePolicy.from_settings(Settings(session_cookie_persistent=False))
    assert browser_session.set_cookie("t", 7200) == "session_token=t; Path=/; HttpOnly; SameSite=Lax"
    assert "Max-Age=0" in browser_session.clear_cookie()  # clearing still expires it


async def test_starlettes_parameter_names_work_as_a_drop_in(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager()
    app = build_app(manager, session_cookie="sid", same_site="strict", https_only=False, max_age=None)
    client = await make_client(app)

    cookie = session_cookie(await client.get("/write", params={"a": "1"}), name="sid")

    assert cookie is not None
    assert cookie["samesite"] == "Strict"
    assert "max-age" not in cookie  # max_age=None: a browser-session cookie, as in Starlette
    assert (await client.get("/")).json()["data"] == {"a": "1"}
    capped = await make_client(build_app(manager, max_age=120))
    assert (session_cookie(await capped.get("/write", params={"a": "1"})) or {})["max-age"] == "120"
    with pytest.raises(TypeError, match="not both"):
        SessionMiddleware(app, manager=manager, name="a", session_cookie="b")


async def test_remember_me_is_a_choice_per_sign_in(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    # The settings' default cookie: browser-session, so only "remember me" makes one that outlives the browser.
    manager = await make_counted_manager(session_cookie_persistent=False, remember_ttl=30 * 86_400)
    browser = await make_client(build_app(manager))

    remembered = session_cookie(await browser.get("/login-remembering/amira", params={"remember": "1"}))
    assert remembered is not None
    assert remembered["max-age"] == str(30 * 86_400)
    rotated = session_cookie(await browser.get("/rotate"))
    assert rotated is not None
    assert int(rotated["max-age"]) > 29 * 86_400  # the choice stays with the session

    forgetful = await make_client(build_app(await make_counted_manager(remember_ttl=30 * 86_400)))
    cookie = session_cookie(await forgetful.get("/login-remembering/bea", params={"remember": "0"}))
    assert cookie is not None
    assert "max-age" not in cookie  # a shared computer: gone when the browser closes
    assert (await forgetful.get("/")).json()["user"] == "bea"
