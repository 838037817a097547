"""login, logout and rotate through the middleware: the store changes, the cookie follows, round trips stay few."""

from __future__ import annotations

import json

from sessionhub import SessionManager
from tests.asgi.app import build_app
from tests.asgi.conftest import MakeClient, MakeCountedManager, RoundTrips, websocket_messages
from tests.asgi.test_middleware import COOKIE, session_cookie


async def test_login_without_a_cookie_is_one_round_trip_and_keeps_what_was_written(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    before = round_trips.count

    response = await client.get("/login/amira", params={"cart": "papyrus"})

    assert round_trips.count - before == 1
    assert response.json()["user"] == "amira"
    assert response.json()["data"] == {"cart": "papyrus"}
    cookie = session_cookie(response)
    assert cookie is not None
    assert response.headers["cache-control"] == "no-store"
    stored = await manager.get(cookie[COOKIE])
    assert stored is not None
    assert (stored.user_id, stored.data) == ("amira", {"cart": "papyrus"})


async def test_login_from_an_anonymous_session_is_two_round_trips_with_a_new_token(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"cart": "papyrus"})
    anonymous_token = client.cookies[COOKIE]
    before = round_trips.count

    response = await client.get("/login/amira", params={"theme": "dark"})

    assert round_trips.count - before == 2
    cookie = session_cookie(response)
    assert cookie is not None
    assert cookie[COOKIE] != anonymous_token
    assert await manager.get(anonymous_token) is None
    assert (await client.get("/")).json()["data"] == {"cart": "papyrus", "theme": "dark"}


async def test_writes_after_login_cost_a_third_round_trip(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"cart": "papyrus"})
    before = round_trips.count

    await client.get("/login-then-write/amira", params={"welcome": "yes"})

    assert round_trips.count - before == 3  # load, login, save: documented
    assert (await client.get("/")).json()["data"] == {"cart": "papyrus", "welcome": "yes"}


async def test_login_as_someone_else_carries_nothing_over(manager: SessionManager, make_client: MakeClient) -> None:
    client = await make_client(build_app(manager))
    await client.get("/login/bob", params={"secret": "bob's"})

    response = await client.get("/login/alice")

    assert response.json()["user"] == "alice"
    assert response.json()["data"] == {}


async def test_a_login_is_kept_even_when_the_response_then_fails(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/write", params={"a": "1"})
    old_token = client.cookies[COOKIE]

    response = await client.get("/login-then-fail/amira")

    assert response.status_code == 500
    cookie = session_cookie(response)  # the old token is dead in the store, so the new one must reach the browser
    assert cookie is not None
    assert cookie[COOKIE] != old_token
    after = (await client.get("/")).json()
    assert (after["user"], after["data"]) == ("amira", {"a": "1"})


async def test_logout_deletes_the_session_and_clears_the_cookie(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/login/amira")
    token = client.cookies[COOKIE]
    before = round_trips.count

    response = await client.get("/logout")

    assert round_trips.count - before == 2
    cookie = session_cookie(response)
    assert cookie is not None
    assert (cookie[COOKIE], cookie["max-age"]) == ("", "0")
    assert await manager.get(token) is None
    assert (await client.get("/")).json() == {"data": {}, "user": None, "id": None}


async def test_data_written_after_logout_starts_a_new_anonymous_session(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/login/amira", params={"private": "x"})
    token = client.cookies[COOKIE]

    response = await client.get("/logout", params={"flash": "signed out"})

    cookie = session_cookie(response)
    assert cookie is not None
    assert cookie[COOKIE] not in ("", token)
    after = (await client.get("/")).json()
    assert (after["data"], after["user"]) == ({"flash": "signed out"}, None)


async def test_logout_without_a_session_sets_nothing(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(build_app(manager))
    before = round_trips.count
    response = await client.get("/logout")
    assert round_trips.count == before
    assert "set-cookie" not in response.headers


async def test_rotate_issues_a_new_token_and_keeps_the_data_and_unsaved_changes(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/login/amira", params={"a": "1"})
    old_token = client.cookies[COOKIE]

    response = await client.get("/rotate", params={"b": "2"})

    assert response.json()["rotated"] is True
    cookie = session_cookie(response)
    assert cookie is not None
    assert cookie[COOKIE] != old_token
    assert await manager.get(old_token) is None
    after = (await client.get("/")).json()
    assert (after["user"], after["data"]) == ("amira", {"a": "1", "b": "2"})


async def test_rotate_without_a_session_does_nothing(manager: SessionManager, make_client: MakeClient) -> None:
    client = await make_client(build_app(manager))
    response = await client.get("/rotate")
    assert response.json()["rotated"] is False
    assert "set-cookie" not in response.headers


async def test_the_session_limit_applies_to_logins(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    manager = await make_counted_manager(max_sessions_per_user=1, limit_policy="evict_oldest")
    laptop = await make_client(build_app(manager))
    phone = await make_client(build_app(manager))
    await laptop.get("/login/amira")
    await phone.get("/login/amira")

    response = await laptop.get("/")

    assert response.json()["user"] is None
    assert session_cookie(response) is not None  # the evicted session's cookie is cleared
    assert (await phone.get("/")).json()["user"] == "amira"


async def test_websockets_read_the_session_and_cannot_change_it(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    app = build_app(manager)
    client = await make_client(app)
    await client.get("/write", params={"a": "1"})
    before = round_trips.count

    sent = await websocket_messages(app, "/ws", {"Cookie": f"{COOKIE}={client.cookies[COOKIE]}"})

    texts = [json.loads(message["text"]) for message in sent if message["type"] == "websocket.send"]
    assert texts[0] == {"data": {"a": "1"}}
    assert "websocket cannot set the cookie" in texts[1]["login"]
    assert sent[-1]["type"] == "websocket.close"
    assert round_trips.count - before == 1
    assert (await client.get("/")).json()["data"] == {"a": "1"}


async def test_switch_to_a_session_the_handler_created_ends_the_previous_one(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))
    await client.get("/login/amira", params={"theme": "dark"})
    signed_in_token = client.cookies[COOKIE]

    response = await client.get("/demo/tourism", params={"dropped": "with the old session"})

    cookie = session_cookie(response)
    assert cookie is not None
    assert cookie[COOKIE] != signed_in_token
    assert await manager.get(signed_in_token) is None
    assert [s.kind for s in await manager.list_user_sessions("amira")] == ["demo"]
    after = (await client.get("/")).json()
    assert after["user"] == "amira"
    assert after["data"] == {"demo.industry": "tourism", "demo.progress": {"step": 0, "total": 0, "status": "new"}}
    status = await manager.demo_status(client.cookies[COOKIE])
    assert status is not None
    assert status.industry == "tourism"


async def test_switch_to_without_a_previous_session_just_sets_the_cookie(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(build_app(manager))

    response = await client.get("/demo/diving")

    cookie = session_cookie(response)
    assert cookie is not None
    assert (await client.get("/")).json()["data"]["demo.industry"] == "diving"
    assert (await manager.stats())["active_sessions"] == 1
