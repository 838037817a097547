"""SessionMiddleware end to end: cookies, laziness, round trips, failures, on both backends and both transports."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from sessionhub import SessionDataError, SessionManager
from sessionhub.asgi import SessionMiddleware
from sessionhub.asgi.middleware import client_info
from sessionhub.client import ClientInfo
from tests.asgi.app import build_app
from tests.asgi.conftest import ABSOLUTE, MakeClient, RoundTrips
from tests.support.clock import FakeClock

COOKIE = "session_token"


def session_cookie(response: httpx.Response, name: str = COOKIE) -> dict[str, str] | None:
    """The response's Set-Cookie for the session cookie as {name: value, attribute: value}, or None."""
    found = [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]
    assert len(found) <= 1, found
    if not found:
        return None
    parts = [part.strip() for part in found[0].split(";")]
    cookie = {}
    for part in parts:
        key, _, value = part.partition("=")
        cookie[key.lower() if key != name else key] = value
    return cookie


async def test_a_visitor_who_writes_nothing_costs_nothing(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    before = round_trips.count

    response = await client.get("/")

    assert response.json() == {"data": {}, "user": None, "id": None}
    assert round_trips.count == before
    assert "set-cookie" not in response.headers
    assert response.headers["vary"] == "Cookie"
    assert "cache-control" not in response.headers


async def test_a_first_write_stores_the_session_in_one_round_trip_and_sets_the_cookie(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    before = round_trips.count

    response = await client.get("/write", params={"theme": "dark"})

    assert round_trips.count - before == 1
    cookie = session_cookie(response)
    assert cookie is not None
    assert len(cookie[COOKIE]) == 45
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(ABSOLUTE)
    assert cookie["samesite"] == "Lax"
    assert "httponly" in cookie
    assert "secure" not in cookie
    assert "domain" not in cookie
    assert response.headers["cache-control"] == "no-store"
    stored = await manager.get(cookie[COOKIE])
    assert stored is not None
    assert stored.data == {"theme": "dark"}
    assert stored.client.ip == "127.0.0.1"


async def test_a_read_with_a_cookie_is_one_round_trip_and_sends_no_cookie(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"theme": "dark"})
    before = round_trips.count

    response = await client.get("/")

    assert response.json()["data"] == {"theme": "dark"}
    assert round_trips.count - before == 1
    assert "set-cookie" not in response.headers
    assert response.headers["vary"] == "Cookie"


async def test_a_change_with_a_cookie_is_two_round_trips_and_sends_no_cookie(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"theme": "dark"})
    before = round_trips.count

    response = await client.get("/write", params={"lang": "fr"})

    assert round_trips.count - before == 2
    assert "set-cookie" not in response.headers
    assert (await client.get("/")).json()["data"] == {"theme": "dark", "lang": "fr"}


async def test_nested_changes_and_removals_are_saved(manager: SessionManager, make_client: MakeClient) -> None:
    client = await make_client(build_app(manager))
    await client.get("/append", params={"item": "papyrus"})
    await client.get("/append", params={"item": "scarab"})
    await client.get("/write", params={"gone": "soon"})
    await client.get("/remove", params={"key": "gone"})

    assert (await client.get("/")).json()["data"] == {"cart": ["papyrus", "scarab"]}


async def test_writing_then_removing_leaves_no_session(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    before = round_trips.count
    response = await client.get("/remove", params={"key": "absent"})
    assert round_trips.count == before
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "value", ["garbage", "00" + "a" * 44, "zz" + "a" * 43, "a" * 4000, "00" + "a" * 42 + "%", '"quoted"', ""]
)
async def test_a_malformed_cookie_is_no_session_with_no_backend_call(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips, value: str
) -> None:
    client = await make_client(build_app(manager))
    before = round_trips.count

    response = await client.get("/", headers={"Cookie": f"{COOKIE}={value}"})

    assert response.status_code == 200
    assert response.json()["id"] is None
    assert round_trips.count == before
    assert "set-cookie" not in response.headers  # it may be another application's cookie: left alone


async def test_an_unknown_cookie_is_no_session_cleared_and_never_adopted(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips, backend_name: str
) -> None:
    client = await make_client(build_app(manager))
    forged = "00" + "A" * 43
    before = round_trips.count

    response = await client.get("/write", params={"a": "1"}, headers={"Cookie": f"{COOKIE}={forged}"})

    # The failed lookup, on Redis then whether the token was rotated away and the count of unknown tokens that every
    # process shares (docs/security.md), then the new session.
    assert round_trips.count - before == (4 if backend_name == "redis" else 2)
    cookie = session_cookie(response)
    assert cookie is not None
    assert cookie[COOKIE] != forged
    assert await manager.get(forged) is None


async def test_an_expired_cookie_is_cleared(manager: SessionManager, make_client: MakeClient, clock: FakeClock) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"a": "1"})
    clock.advance(manager.settings.session_ttl + 1)

    response = await client.get("/")

    assert response.json()["id"] is None
    cookie = session_cookie(response)
    assert cookie is not None
    assert cookie[COOKIE] == ""
    assert cookie["max-age"] == "0"
    assert response.headers["cache-control"] == "no-store"
    assert COOKIE not in client.cookies


async def test_a_read_slides_the_idle_deadline(
    manager: SessionManager, make_client: MakeClient, clock: FakeClock
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"a": "1"})
    for _ in range(3):
        clock.advance(manager.settings.session_ttl * 0.9)
        assert (await client.get("/")).json()["data"] == {"a": "1"}


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_changes_of_a_failed_response_are_not_saved(
    manager: SessionManager, make_client: MakeClient, status: int
) -> None:
    client = await make_client(build_app(manager))
    response = await client.get("/fail", params={"new": "visitor", "status": str(status)})
    assert response.status_code == status
    assert "set-cookie" not in response.headers

    await client.get("/write", params={"a": "1"})
    await client.get("/fail", params={"a": "changed", "status": str(status)})
    assert (await client.get("/")).json()["data"] == {"a": "1"}


async def test_a_client_error_response_still_saves(manager: SessionManager, make_client: MakeClient) -> None:
    client = await make_client(build_app(manager))
    response = await client.get("/fail", params={"a": "1", "status": "404"})
    assert response.status_code == 404
    assert (await client.get("/")).json()["data"] == {"a": "1", "status": "404"}


async def test_an_application_error_saves_nothing(manager: SessionManager, make_client: MakeClient) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"a": "1"})

    response = await client.get("/crash", params={"a": "changed"})

    assert response.status_code == 500
    assert (await client.get("/")).json()["data"] == {"a": "1"}


async def test_a_streamed_response_is_saved_and_streamed(manager: SessionManager, make_client: MakeClient) -> None:
    client = await make_client(build_app(manager))
    response = await client.get("/stream", params={"streamed": "yes"})
    assert response.text == "chunk 0\nchunk 1\nchunk 2\n"
    assert session_cookie(response) is not None
    assert (await client.get("/")).json()["data"] == {"streamed": "yes"}


@pytest.mark.parametrize("query", ["", "stream"])
async def test_a_session_that_cannot_be_saved_is_a_500_and_logged(
    manager: SessionManager, make_client: MakeClient, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"a": "1"})
    with caplog.at_level(logging.ERROR, logger="sessionhub.asgi"):
        response = await client.get(f"/unstorable?{query}")

    assert response.status_code == 500
    assert "should never be sent" not in response.text
    assert "set-cookie" not in response.headers
    assert any("could not save session" in record.getMessage() for record in caplog.records)
    assert (await client.get("/")).json()["data"] == {"a": "1"}


async def test_a_response_that_sets_the_cookie_is_not_cacheable(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))
    first = await client.get("/cached", params={"a": "1"})
    assert first.headers["cache-control"] == "no-store"
    assert first.headers.get_list("vary") == ["Accept-Encoding, Cookie"]

    again = await client.get("/cached")
    assert again.headers["cache-control"] == "public, max-age=60"
    assert again.headers.get_list("vary") == ["Accept-Encoding, Cookie"]


async def test_excluded_paths_never_touch_the_session(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"a": "1"})
    before = round_trips.count

    excluded = await client.get("/static/app.css")
    not_excluded = await client.get("/staticky")

    assert excluded.json() == {"has_session": False}
    assert "vary" not in excluded.headers
    assert not_excluded.json() == {"has_session": True}
    assert round_trips.count - before == 1


async def test_the_first_of_several_session_cookies_is_used(manager: SessionManager, make_client: MakeClient) -> None:
    client = await make_client(build_app(manager))
    mine = session_cookie(await client.get("/write", params={"who": "mine"}))
    other = await manager.create(data={"who": "other"})
    assert mine is not None
    assert other.token is not None
    client.cookies.clear()

    header = f"theme=dark; {COOKIE}={mine[COOKIE]}; {COOKIE}={other.token}"
    response = await client.get("/", headers={"Cookie": header})

    assert response.json()["data"] == {"who": "mine"}


async def test_the_client_is_recorded_and_forwarded_for_is_ignored_by_default(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))
    response = await client.get("/client", headers={"User-Agent": "probe/1.0", "X-Forwarded-For": "203.0.113.9"})
    assert response.json()["id"] is None  # stored only as the response starts
    session = await manager.get(client.cookies[COOKIE])
    assert session is not None
    assert session.client.ip == "127.0.0.1"
    assert session.client.user_agent == "probe/1.0"


async def test_trusted_proxy_hops_pick_the_address_the_outermost_proxy_saw(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager, trusted_proxy_hops=2))
    forwarded = "198.51.100.66, 203.0.113.9, 10.0.0.2"  # forged by the client, then two proxies of ours

    await client.get("/client", headers={"X-Forwarded-For": forwarded})

    session = await manager.get(client.cookies[COOKIE])
    assert session is not None
    assert session.client.ip == "203.0.113.9"


def test_the_client_comes_from_the_first_user_agent_and_the_forwarded_hops() -> None:
    scope: Scope = {
        "client": ("127.0.0.1", 5000),
        "headers": [
            (b"x-forwarded-for", b"198.51.100.66, 203.0.113.9"),
            (b"user-agent", b"first/1.0"),
            (b"user-agent", b"second/2.0"),
            (b"x-forwarded-for", b" , 10.0.0.2"),
        ],
    }
    assert client_info(scope, 0) == ClientInfo("127.0.0.1", "first/1.0")
    assert client_info(scope, 2) == ClientInfo("203.0.113.9", "first/1.0")
    assert client_info(scope, 4) == ClientInfo("127.0.0.1", "first/1.0")  # fewer hops than trusted: forged
    long = client_info({"client": None, "headers": [(b"user-agent", b"u" * 2000)]}, 0)
    assert long == ClientInfo(None, "u" * ClientInfo.MAX_USER_AGENT_LENGTH)


async def test_application_and_save_errors_propagate_from_the_middleware(manager: SessionManager) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["session"]["value"] = {1} if scope["path"] == "/unstorable" else "ok"
        if scope["path"] == "/crash":
            raise RuntimeError("the handler failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(app=SessionMiddleware(app, manager))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/fine")).status_code == 200
        with pytest.raises(RuntimeError, match="the handler failed"):
            await client.get("/crash")
        with pytest.raises(SessionDataError):
            await client.get("/unstorable")


async def test_clearing_the_session_signs_out_as_with_starlettes_middleware(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))
    signed_in = await client.get("/login/amira", params={"cart": "tea"})
    token = client.cookies.get(COOKIE)
    session_id = signed_in.json()["id"]

    cleared = await client.get("/clear")

    assert cleared.json()["data"] == {}
    cookie = session_cookie(cleared)
    assert cookie is not None
    assert cookie["max-age"] == "0"
    assert await manager.get(token) is None
    assert await manager.list_user_sessions("amira") == []
    assert (await client.get("/")).json() == {"data": {}, "user": None, "id": None}

    await client.get("/login/amira")
    restarted = await client.get("/clear", params={"theme": "dark"})  # written after the clear: a new visitor
    assert restarted.json()["data"] == {"theme": "dark"}
    after = (await client.get("/")).json()
    assert (after["user"], after["data"]) == (None, {"theme": "dark"})
    assert after["id"] not in (None, session_id)
    assert await manager.list_user_sessions("amira") == []


async def test_deleting_every_key_empties_the_data_and_keeps_the_user_signed_in(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/login/amira", params={"cart": "tea"})
    await client.get("/remove", params={"key": "cart"})
    assert (await client.get("/")).json()["user"] == "amira"
