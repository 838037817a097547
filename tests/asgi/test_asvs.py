"""Black-box check of the example FastAPI application over real HTTP (uvicorn on loopback, httpx without a cookie
jar): what an HTTP client can see of OWASP ASVS 4.0.3 V3 and 5.0 V7 (docs/security.md has the full tables)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from types import ModuleType

import httpx
import pytest

from tests.asgi.app import build_app
from tests.asgi.conftest import ABSOLUTE, IDLE, MakeClient, MakeCountedManager, uvicorn_server
from tests.asgi.test_fastapi import example  # noqa: F401 (the fixture loading examples/fastapi_app.py)
from tests.support.clock import FakeClock

COOKIE = "__Host-session_token"
TOKEN_SHAPE = re.compile(r"[0-9a-f]{2}[A-Za-z0-9_-]{43}")  # 2 + 43 base64url characters: 256 random bits


@pytest.fixture
async def http(make_counted_manager: MakeCountedManager, example: ModuleType) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    manager = await make_counted_manager(session_cookie_secure=True)  # __Host- follows by default
    async with uvicorn_server(example.create_app(manager)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        yield client


def set_cookie(response: httpx.Response) -> dict[str, str]:
    """The session cookie the response sets, as {"value": ..., attribute (lowercase): value}."""
    headers = [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{COOKIE}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    first, *attributes = (part.strip() for part in headers[0].split(";"))
    cookie = {"value": first.partition("=")[2]}
    for attribute in attributes:
        name, _, value = attribute.partition("=")
        cookie[name.lower()] = value
    return cookie


def sent(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}"}


async def user_of(http: httpx.AsyncClient, token: str) -> str | None:
    user: str | None = (await http.get("/api/me", headers=sent(token))).json()["user"]
    return user


async def sign_in(http: httpx.AsyncClient, token: str | None) -> str:
    headers = sent(token) if token else {}
    response = await http.post("/login", content=b"username=amira&password=papyrus", headers=headers)
    assert response.status_code == 303
    return set_cookie(response)["value"]


async def test_cookie_attributes_v3_4(http: httpx.AsyncClient) -> None:
    assert "set-cookie" not in (await http.get("/")).headers  # a visitor who stores nothing gets no cookie
    response = await http.post("/counter")
    cookie = set_cookie(response)

    assert "secure" in cookie  # V3.4.1
    assert "httponly" in cookie  # V3.4.2
    assert cookie["samesite"] == "Lax"  # V3.4.3
    assert cookie["path"] == "/"  # V3.4.4 (__Host- also requires Path=/ and no Domain) and V3.4.5
    assert "domain" not in cookie
    assert 0 < int(cookie["max-age"]) <= ABSOLUTE  # a persistent cookie never outlives the absolute timeout
    assert response.headers["cache-control"] == "no-store"
    assert "cookie" in response.headers["vary"].lower()


async def test_tokens_are_long_random_and_never_in_urls_or_bodies_v3_1_1_v3_2_2(http: httpx.AsyncClient) -> None:
    tokens = set()
    for _ in range(20):
        response = await http.post("/counter")
        token = set_cookie(response)["value"]
        assert TOKEN_SHAPE.fullmatch(token)
        assert token not in response.headers.get("location", "")
        assert token not in response.text
        tokens.add(token)
    assert len(tokens) == 20

    signed_in = await sign_in(http, None)
    page = await http.get("/sessions", headers=sent(signed_in))
    assert page.status_code == 200
    assert signed_in not in page.text  # "my sessions" shows public ids only
    # A token in the URL is no session (V3.1.1: there is no URL-rewriting mode).
    assert (await http.get("/api/me", params={COOKIE: signed_in, "session_token": signed_in})).json()["user"] is None


async def test_authentication_issues_a_new_token_and_ends_the_old_one_v3_2_1_v7_2_4(http: httpx.AsyncClient) -> None:
    anonymous = set_cookie(await http.post("/counter"))["value"]
    signed_in = await sign_in(http, anonymous)
    assert signed_in != anonymous
    assert await user_of(http, signed_in) == "amira"
    assert (await http.get("/api/me", headers=sent(anonymous))).json() == {"user": None, "count": 0}

    again = await sign_in(http, signed_in)  # re-authentication
    assert again != signed_in
    assert await user_of(http, signed_in) is None
    assert await user_of(http, again) == "amira"


async def test_a_planted_token_is_never_adopted_v3_2_1(http: httpx.AsyncClient) -> None:
    planted = "00" + "Q" * 43
    response = await http.post("/counter", headers=sent(planted))
    assert set_cookie(response)["value"] != planted
    signed_in = await sign_in(http, planted)
    assert signed_in != planted
    assert await user_of(http, planted) is None


async def test_logout_ends_the_session_for_good_v3_3_1_v7_4_1(http: httpx.AsyncClient) -> None:
    token = await sign_in(http, None)
    response = await http.post("/logout", headers=sent(token))

    cleared = set_cookie(response)
    assert cleared["value"] == ""
    assert cleared["max-age"] == "0"
    assert response.headers["cache-control"] == "no-store"
    # The back button (or a copy of the cookie) cannot bring it back.
    assert await user_of(http, token) is None
    assert "Signed in as" not in (await http.get("/", headers=sent(token))).text


async def test_users_see_their_security_log_without_tokens(http: httpx.AsyncClient) -> None:
    first = await sign_in(http, None)
    second = await sign_in(http, None)
    await http.post("/logout", headers=sent(first))

    page = await http.get("/security", headers=sent(second))

    assert page.status_code == 200
    assert page.text.count("<td>login</td>") == 2
    assert "<td>revoked</td><td>logout</td><td>user</td><td>127.0.0.1</td><td>Python on Other</td>" in page.text
    assert first not in page.text
    assert second not in page.text
    assert (await http.get("/security")).status_code == 401


async def test_expiry_ends_the_session_v3_3_1_v7_3_1(http: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await sign_in(http, None)
    clock.advance(IDLE - 1)
    assert await user_of(http, token) == "amira"  # activity slides the idle deadline
    clock.advance(IDLE + 1)
    assert await user_of(http, token) is None


async def test_the_absolute_timeout_holds_despite_activity_v7_3_2(http: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await sign_in(http, None)
    for _ in range(ABSOLUTE // (IDLE // 2) - 1):
        clock.advance(IDLE // 2)
        assert await user_of(http, token) == "amira"
    clock.advance(IDLE // 2)
    assert await user_of(http, token) is None


async def test_a_sensitive_action_needs_a_recent_sign_in_v3_7_1_v7_5_1(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await sign_in(http, None)
    assert (await http.post("/password", headers=sent(token))).json() == {"changed": "amira"}
    clock.advance(301)  # the sign-in is older than the action's five minutes; the session itself lives on

    refused = await http.post("/password", headers=sent(token))

    assert refused.status_code == 401
    body = refused.json()["detail"]
    assert (body["error"], body["max_age"]) == ("insufficient_user_authentication", 300)
    assert body["authenticated_at"].startswith("20")
    assert refused.headers["www-authenticate"] == 'Session error="insufficient_user_authentication", max_age=300'
    assert await user_of(http, token) == "amira"
    wrong = await http.post("/reauthenticate", content=b"password=scarab", headers=sent(token))
    assert wrong.status_code == 401

    confirmed = await http.post("/reauthenticate", content=b"password=papyrus", headers=sent(token))

    assert confirmed.status_code == 303
    stepped_up = set_cookie(confirmed)["value"]
    assert stepped_up != token
    assert await user_of(http, token) is None  # a new token, as on any authentication
    assert (await http.post("/password", headers=sent(stepped_up))).json() == {"changed": "amira"}
    anonymous = await http.post("/password")
    assert (anonymous.status_code, anonymous.json()["detail"]["error"]) == (401, "not_authenticated")


async def test_replacing_the_session_cannot_outlive_the_sign_in_v3_3_2_v7_3_2(
    make_counted_manager: MakeCountedManager, make_client: MakeClient, clock: FakeClock
) -> None:
    """Starting a new demo session over and over (the demo's industry pick) carries the sign-in's absolute deadline;
    a handler that forgets `replaces=` gets a ValueError rather than a silent new lifetime."""
    manager = await make_counted_manager()
    client = await make_client(build_app(manager))
    assert (await client.get("/login/amira")).json()["user"] == "amira"
    for _ in range(ABSOLUTE // (IDLE // 2) - 1):
        clock.advance(IDLE // 2)
        assert (await client.get("/demo/Bakery")).json()["user"] == "amira"
    clock.advance(IDLE // 2)
    assert (await client.get("/")).json()["user"] is None
    assert (await client.get("/login/amira")).json()["user"] == "amira"
    clock.advance(1)
    assert (await client.get("/demo-forgetting-replaces/Bakery")).status_code == 500
