"""Security monitoring through the middleware: risk exposed to handlers, throttling, Clear-Site-Data, security events
with the request's client, and token reuse seen over HTTP (both backends, in-process and over real HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionhub import SessionManager, events
from sessionhub.asgi import SessionMiddleware, login, logout, needs_reauthentication, rotate, session_risk
from sessionhub.cookies import CookiePolicy
from sessionhub.settings import Settings
from tests.asgi.conftest import MakeClient, MakeCountedManager, RoundTrips, websocket_messages
from tests.asgi.test_middleware import COOKIE, session_cookie
from tests.support.clock import FakeClock

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"


async def describe(request: Request) -> Response:
    risk = session_risk(request)
    return JSONResponse(
        {
            "risk": risk.level if risk is not None else None,
            "scope_risk": request.scope["session_risk"] is risk,
            "reauthenticate": needs_reauthentication(request),
            "data": dict(request.session),
        }
    )


async def sign_in(request: Request) -> Response:
    await login(request, request.path_params["user"])
    return await describe(request)


async def sign_out(request: Request) -> Response:
    await logout(request)
    if "then_write" in request.query_params:
        request.session["after"] = True
    return await describe(request)


async def rotate_token(request: Request) -> Response:
    await rotate(request)
    return await describe(request)


def security_app(manager: SessionManager, **options: Any) -> Starlette:
    routes = [
        Route("/", describe),
        Route("/login/{user}", sign_in),
        Route("/logout", sign_out),
        Route("/rotate", rotate_token),
    ]
    return Starlette(
        routes=routes, middleware=[Middleware(SessionMiddleware, manager=manager, trusted_proxy_hops=1, **options)]
    )


def client_headers(ip: str, user_agent: str = FIREFOX, token: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": ip, "User-Agent": user_agent}
    if token is not None:
        headers["Cookie"] = f"{COOKIE}={token}"
    return headers


async def sign_in_as(client: Any, user: str, ip: str = "198.51.100.20") -> str:
    response = await client.get(f"/login/{user}", headers=client_headers(ip))
    cookie = session_cookie(response)
    assert cookie is not None
    return cookie[COOKIE]


async def test_handlers_see_the_risk_and_the_reauthentication_flag(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager(risk_policy="reauthenticate")
    client = await make_client(security_app(manager))
    token = await sign_in_as(client, "alice")
    client.cookies.clear()

    same = (await client.get("/", headers=client_headers("198.51.100.20", token=token))).json()
    moved = (await client.get("/", headers=client_headers("203.0.113.5", token=token))).json()
    switched = (await client.get("/", headers=client_headers("198.51.100.20", CHROME, token=token))).json()
    anonymous = (await client.get("/", headers=client_headers("198.51.100.20"))).json()

    assert (same["risk"], same["reauthenticate"], same["scope_risk"]) == ("none", False, True)
    assert (moved["risk"], moved["reauthenticate"]) == ("medium", False)
    assert (switched["risk"], switched["reauthenticate"]) == ("high", True)
    assert (anonymous["risk"], anonymous["reauthenticate"]) == (None, False)
    flagged = [e for e in await manager.security_events("alice") if e.type == events.RISK_FLAGGED]
    assert [(e.risk, e.device) for e in flagged] == [("high", "Chrome on Windows")]


async def test_the_revoke_policy_signs_the_request_out(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager(risk_policy="revoke")
    client = await make_client(security_app(manager))
    token = await sign_in_as(client, "alice")
    client.cookies.clear()

    response = await client.get("/", headers=client_headers("198.51.100.20", CHROME, token=token))

    assert response.json()["risk"] is None
    cookie = session_cookie(response)
    assert cookie is not None
    assert cookie[COOKIE] == ""
    assert await manager.list_user_sessions("alice") == []


async def test_an_address_sending_invalid_cookies_is_throttled(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager(token_abuse_throttle=True, token_abuse_threshold=3, token_abuse_window=60)
    client = await make_client(security_app(manager))
    token = await sign_in_as(client, "alice", ip="192.0.2.66")
    client.cookies.clear()
    for guess in ["00" + "A" * 43, "00" + "B" * 43, "00" + "C" * 43]:
        assert (await client.get("/", headers=client_headers("192.0.2.66", token=guess))).status_code == 200

    refused = await client.get("/", headers=client_headers("192.0.2.66", token=token))

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["cache-control"] == "no-store"
    assert token not in refused.text
    # Without a cookie, or from another address, requests go through.
    assert (await client.get("/", headers=client_headers("192.0.2.66"))).status_code == 200
    assert (await client.get("/", headers=client_headers("192.0.2.67", token=token))).status_code == 200
    closed = await websocket_messages(
        security_app(manager), "/", {"cookie": f"{COOKIE}={token}", "x-forwarded-for": "192.0.2.66"}
    )
    assert closed == [{"type": "websocket.close", "code": 1008}]


async def test_workers_share_one_unknown_token_budget_on_redis(
    make_counted_manager: MakeCountedManager, make_client: MakeClient, backend_name: str, round_trips: RoundTrips
) -> None:
    """Two worker processes (two managers, two servers) on one store: a guesser spreading cookies over both gets the
    threshold once on Redis (plus the one token that tells the second worker), N times on the memory store."""
    settings = {"token_abuse_throttle": True, "token_abuse_threshold": 4, "token_abuse_window": 60}
    workers = [await make_counted_manager(**settings), await make_counted_manager(**settings)]
    clients = [await make_client(security_app(worker)) for worker in workers]
    token = await sign_in_as(clients[0], "alice", ip="192.0.2.66")
    guesses = iter(f"00{letter * 43}" for letter in "ABCDEFGHIJKLMNOP")

    answered = []
    for turn in range(12):
        client = clients[turn % 2]
        answered.append((await client.get("/", headers=client_headers("192.0.2.66", token=next(guesses)))).status_code)

    if backend_name == "redis":
        assert answered == [200] * 5 + [429] * 7  # the 4th reached the threshold on worker 1, the 5th tells worker 0
    else:
        assert answered == [200] * 8 + [429] * 4  # each worker counts its own four
    for client in clients:
        assert (await client.get("/", headers=client_headers("192.0.2.66", token=token))).status_code == 429
        before = round_trips.count
        served = await client.get("/", headers=client_headers("192.0.2.67", token=token))
        assert served.status_code == 200
        assert round_trips.count - before == 1  # the valid-token path: the session's read, nothing more


@pytest.mark.parametrize("enabled", [True, False])
async def test_clear_site_data_on_logout_is_opt_in(
    make_counted_manager: MakeCountedManager, make_client: MakeClient, enabled: bool
) -> None:
    manager = await make_counted_manager(clear_site_data_on_logout=enabled)
    client = await make_client(security_app(manager))
    await sign_in_as(client, "alice")

    logged_out = await client.get("/logout", headers=client_headers("198.51.100.20"))

    assert session_cookie(logged_out) is not None
    assert logged_out.headers["cache-control"] == "no-store"
    assert logged_out.headers.get("clear-site-data") == ('"cache", "cookies", "storage"' if enabled else None)


async def test_no_clear_site_data_when_the_response_sets_a_new_session(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager(clear_site_data_on_logout=True)
    client = await make_client(security_app(manager))
    await sign_in_as(client, "alice")
    response = await client.get("/logout", params={"then_write": "1"}, headers=client_headers("198.51.100.20"))
    cookie = session_cookie(response)
    assert cookie is not None
    assert cookie[COOKIE] != ""
    assert "clear-site-data" not in response.headers


async def test_events_carry_the_requests_client(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager()
    client = await make_client(security_app(manager))
    await sign_in_as(client, "alice")
    await client.get("/rotate", headers=client_headers("198.51.100.21"))
    await client.get("/logout", headers=client_headers("198.51.100.22"))

    logout_event, rotation, login_event = await manager.security_events("alice")

    assert (login_event.type, login_event.ip, login_event.device) == (events.LOGIN, "198.51.100.20", "Firefox on Linux")
    assert (rotation.type, rotation.ip) == (events.ROTATED, "198.51.100.21")
    assert (logout_event.type, logout_event.reason, logout_event.ip) == (events.REVOKED, "logout", "198.51.100.22")


async def test_a_rotated_away_cookie_replayed_later_is_reported(
    make_counted_manager: MakeCountedManager, make_client: MakeClient, clock: FakeClock
) -> None:
    manager = await make_counted_manager(rotated_token_policy="revoke")
    client = await make_client(security_app(manager))
    stolen = await sign_in_as(client, "alice")
    await client.get("/rotate", headers=client_headers("198.51.100.20"))
    clock.advance(manager.settings.rotated_token_grace + 1)
    client.cookies.clear()

    replay = await client.get("/", headers=client_headers("203.0.113.99", CHROME, token=stolen))

    assert replay.json()["risk"] is None
    log = await manager.security_events("alice")
    assert [e.type for e in log[:2]] == [events.REVOKED, events.TOKEN_REUSED]
    assert log[1].ip == "203.0.113.99"
    assert await manager.list_user_sessions("alice") == []


def test_the_cookie_stays_under_the_browsers_size_limit() -> None:
    policy = CookiePolicy.from_settings(Settings(session_cookie_name="n" * 64, session_cookie_host_prefix=True))
    assert len(policy.set_cookie("t" * 45, 60).split(";")[0]) == 7 + 64 + 1 + 45
    with pytest.raises(AssertionError, match="size limit"):
        policy.set_cookie("t" * 4096, 60)
