"""The token in a header for API clients (sessionhub.asgi.token_header), in process and over real HTTP, on memory
and Redis: the first token, rotation, sign-out, limits and revocation work as with the cookie, and one request never
mixes the header and the cookie."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionhub import SessionManager, Settings
from sessionhub.asgi import SessionAuthBackend, SessionMiddleware
from sessionhub.asgi.token_header import TokenHeader, header_transport
from sessionhub.backends import MemoryBackend
from tests.asgi.app import build_app
from tests.asgi.conftest import MakeClient, MakeCountedManager, websocket_messages
from tests.support.clock import FakeClock

COOKIE = "session_token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issued(response: httpx.Response) -> str:
    token = response.headers["session-token"]
    assert token, "a token was expected in Session-Token"
    assert response.headers["cache-control"] == "no-store"
    return token


def no_cookie(response: httpx.Response) -> None:
    assert "set-cookie" not in response.headers, response.headers.get_list("set-cookie")


async def test_an_api_client_gets_its_first_token_in_the_response_header(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager()
    client = await make_client(build_app(manager, transport="header"))

    signed_in = await client.get("/login/amira", params={"cart": "1"})
    token = issued(signed_in)
    no_cookie(signed_in)
    assert signed_in.headers["vary"] == "Authorization"

    read = await client.get("/", headers=bearer(token))
    assert read.json()["user"] == "amira"
    assert "session-token" not in read.headers  # the client keeps the token it has
    assert read.headers["vary"] == "Authorization"
    stored = await manager.get(token)
    assert stored is not None
    assert stored.user_id == "amira"


async def test_rotation_and_sign_out_reach_the_client_in_the_header(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(await make_counted_manager(), transport="header"))
    first = issued(await client.get("/login/amira"))

    rotated = await client.get("/rotate", headers=bearer(first))
    second = issued(rotated)
    assert second != first
    assert (await client.get("/", headers=bearer(first))).json()["user"] is None

    signed_out = await client.get("/logout", headers=bearer(second))
    assert signed_out.headers["session-token"] == ""  # drop the token
    no_cookie(signed_out)
    assert (await client.get("/", headers=bearer(second))).json()["user"] is None


async def test_a_revoked_token_is_told_to_go(make_counted_manager: MakeCountedManager, make_client: MakeClient) -> None:
    manager = await make_counted_manager()
    client = await make_client(build_app(manager, transport="header"))
    token = issued(await client.get("/login/amira"))

    await manager.revoke_user_sessions("amira")

    after = await client.get("/", headers=bearer(token))
    assert after.json()["user"] is None
    assert after.headers["session-token"] == ""


async def test_the_session_limit_applies_to_header_clients(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    client = await make_client(
        build_app(await make_counted_manager(max_sessions_per_user=1, limit_policy="evict_oldest"), transport="header")
    )
    phone = issued(await client.get("/login/amira"))
    tablet = issued(await client.get("/login/amira"))

    assert (await client.get("/", headers=bearer(phone))).json()["user"] is None
    assert (await client.get("/", headers=bearer(tablet))).json()["user"] == "amira"


async def test_with_either_a_request_uses_the_header_alone_when_it_sends_one(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager()
    client = await make_client(build_app(manager, transport="either"))
    browser = await client.get("/login/bea")  # no header: the cookie, as for any browser
    assert browser.cookies[COOKIE]
    assert "session-token" not in browser.headers
    assert browser.headers["vary"] == "Cookie, Authorization"
    api_token = (await manager.create(user_id="amira")).token
    assert api_token is not None

    # The jar sends bea's cookie too: the header wins, and the cookie is neither read, nor set, nor cleared.
    mixed = await client.get("/rotate", headers=bearer(api_token))
    assert mixed.json()["user"] == "amira"
    assert issued(mixed) != api_token
    no_cookie(mixed)

    assert (await client.get("/")).json()["user"] == "bea"  # the cookie still works on its own


async def test_with_either_other_authorization_schemes_leave_the_cookie_in_charge(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(await make_counted_manager(), transport="either"))
    await client.get("/login/bea")

    basic = await client.get("/", headers={"Authorization": "Basic YmVhOnB3"})

    assert basic.json()["user"] == "bea"


async def test_the_cookie_transport_ignores_the_header(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager()
    client = await make_client(build_app(manager))
    token = (await manager.create(user_id="amira")).token
    assert token is not None

    response = await client.get("/", headers=bearer(token))

    assert response.json()["user"] is None
    assert response.headers["vary"] == "Cookie"


async def test_a_header_of_your_own_carries_the_bare_token(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(await make_counted_manager(), transport="header", token_header="X-Auth-Token"))
    token = issued(await client.get("/login/amira"))

    assert (await client.get("/", headers={"X-Auth-Token": token})).json()["user"] == "amira"
    assert (await client.get("/", headers=bearer(token))).json()["user"] is None


@pytest.mark.parametrize("value", ["Bearer", "Bearer not-a-token", "Bearer " + "x" * 5000, "bearer \x7f"])
async def test_a_malformed_bearer_is_no_session_and_no_500(
    make_counted_manager: MakeCountedManager, make_client: MakeClient, value: str
) -> None:
    client = await make_client(build_app(await make_counted_manager(), transport="header"))

    response = await client.get("/", headers={"Authorization": value})

    assert response.status_code == 200
    assert response.json()["user"] is None
    assert "session-token" not in response.headers  # not a sessionhub token: nothing to drop


async def test_the_token_never_reaches_the_log(
    make_counted_manager: MakeCountedManager,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    clock: FakeClock,
) -> None:
    client = await make_client(build_app(await make_counted_manager(), transport="header"))
    with caplog.at_level(logging.DEBUG):
        token = issued(await client.get("/login/amira"))
        rotated = issued(await client.get("/rotate", headers=bearer(token)))
        clock.advance(60)  # past the rotation's grace period
        await client.get("/", headers=bearer(token))  # a rotated-away token again: logged as possible theft
        await client.get("/logout", headers=bearer(rotated))
    # The server side's records (httpx's own debug log, on the client side, shows the headers it received).
    client_side = ("httpx", "httpcore")
    server_side = [record.getMessage() for record in caplog.records if not record.name.startswith(client_side)]
    assert any("possible theft" in message for message in server_side), server_side
    assert not [message for message in server_side if token in message or rotated in message]


async def test_the_settings_choose_the_transport_for_the_middleware_and_the_auth_backend() -> None:
    manager = SessionManager(MemoryBackend(), Settings(session_transport="header", session_token_header="X-Token"))

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.user.display_name if request.user.is_authenticated else None})

    authentication = Middleware(AuthenticationMiddleware, backend=SessionAuthBackend(manager))
    app = Starlette(routes=[Route("/me", me)], middleware=[authentication])
    token = (await manager.create(user_id="amira")).token
    assert token is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/me", headers={"X-Token": token})).json() == {"user": "amira"}
        client.cookies[COOKIE] = token
        assert (await client.get("/me")).json() == {"user": None}  # the header only
    middleware = SessionMiddleware(app, manager)
    assert (middleware.transport, middleware.token_header.name) == ("header", "X-Token")
    assert SessionMiddleware(app, manager, transport="either").transport == "either"


def test_header_transport_reads_the_first_bearer_credentials() -> None:
    header = TokenHeader("Authorization")
    headers = [(b"authorization", b"Basic YTpi"), (b"authorization", b"BEARER  abc ")]
    assert header_transport("either", header, headers) == (True, "abc")
    assert header_transport("either", header, [(b"authorization", b"Basic YTpi")]) == (False, None)
    assert header_transport("header", header, []) == (True, None)
    assert header_transport("cookie", header, headers) == (False, None)
    with pytest.raises(ValueError, match="not an HTTP header name"):
        TokenHeader("X Token")


async def test_a_websocket_reads_its_session_from_the_header(make_counted_manager: MakeCountedManager) -> None:
    manager = await make_counted_manager()
    token = (await manager.create(user_id="amira", data={"theme": "dark"})).token
    assert token is not None

    sent = await websocket_messages(build_app(manager, transport="header"), "/ws", bearer(token))

    assert {"type": "websocket.send", "text": '{"data":{"theme":"dark"}}'} in sent
