"""The demo app's edges, over HTTP in process, on every backend: cookies, CSRF, bad input, ownership, operator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from sessionhub import SessionManager
from sessionhub.conversation import Message
from sessionhub.demo.app import create_app
from tests.support.managers import MakeManager

Client = httpx.AsyncClient
MakeClient = Callable[[], Awaitable[Client]]


@pytest.fixture
async def app_manager(make_manager: MakeManager) -> SessionManager:
    return await make_manager(max_message_length=200, max_sessions_per_user=4)


@pytest.fixture
async def new_client(app_manager: SessionManager) -> AsyncIterator[MakeClient]:
    """Browsers on one app (the manager is opened by the fixture, as the app's lifespan would)."""
    app = create_app(app_manager)
    clients: list[Client] = []

    async def make() -> Client:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def csrf_in(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


async def sign_in(client: Client, name: str, *, headers: dict[str, str] | None = None, **fields: str) -> httpx.Response:
    """Post the sign-in form as a browser does: from a page that carries its CSRF token (the sign-in page, or for a
    browser already signed in, the page it is sent to)."""
    form = {"name": name, "csrf": csrf_in(await client.get("/", follow_redirects=True)), **fields}
    return await client.post("/signin", data=form, headers=headers)


async def start_demo(client: Client, name: str, industry: str = "hotel") -> str:
    """Sign in and pick an industry; returns the CSRF token of the demo session."""
    signed_in = await sign_in(client, name)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/industry"
    picked = await client.post("/industry", data={"industry": industry, "csrf": csrf_in(await client.get("/industry"))})
    assert picked.headers["location"] == "/chat"
    return csrf_in(await client.get("/chat"))


async def messages_of(manager: SessionManager, client: Client) -> list[str]:
    token = client.cookies.get("session_token")
    assert token is not None
    return [message.content for message in await manager.get_messages(token)]


@pytest.mark.parametrize("cookie", ["garbage", "a" * 10_000, "ab" + "!" * 43])
async def test_malformed_cookies_are_no_session_and_left_alone(new_client: MakeClient, cookie: str) -> None:
    client = await new_client()
    client.cookies.set("session_token", cookie)

    home = await client.get("/")
    chat = await client.get("/chat")

    assert home.status_code == 200
    assert "there is no password" in home.text
    assert (chat.status_code, chat.headers["location"]) == (303, "/")
    assert "set-cookie" not in chat.headers  # it may be another application's cookie: the middleware's rule


async def test_a_session_that_ended_sends_the_browser_to_sign_in_and_clears_its_cookie(
    new_client: MakeClient, app_manager: SessionManager
) -> None:
    client = await new_client()
    await start_demo(client, "amira")
    await app_manager.revoke_user_sessions("amira")

    chat = await client.get("/chat")

    assert (chat.status_code, chat.headers["location"]) == (303, "/?ended=1")
    assert chat.headers["set-cookie"].startswith("session_token=;")
    assert "Max-Age=0" in chat.headers["set-cookie"]
    assert "session_token" not in client.cookies
    assert "it was revoked from another device" in (await client.get("/?ended=1")).text


async def test_sign_in_sets_a_safe_cookie_and_never_keeps_the_old_token(
    new_client: MakeClient, app_manager: SessionManager
) -> None:
    client = await new_client()
    await start_demo(client, "amira")
    before = client.cookies.get("session_token")

    again = await sign_in(client, "amira")

    [cookie] = [value.lower() for value in again.headers.get_list("set-cookie") if value.startswith("session_token=")]
    assert again.headers["cache-control"] == "no-store"
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert client.cookies.get("session_token") != before
    assert await app_manager.get(before) is None


async def test_pages_carry_security_headers(new_client: MakeClient) -> None:
    client = await new_client()
    page = await client.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bell\x07", "nul\x00"])
async def test_bad_names_are_refused(new_client: MakeClient, app_manager: SessionManager, name: str) -> None:
    client = await new_client()
    refused = await sign_in(client, name)
    assert refused.status_code == 400
    assert "Please enter a name" in refused.text
    assert "session_token" not in client.cookies
    assert (await app_manager.stats())["active_sessions"] == 0


async def test_forms_without_the_sessions_csrf_token_change_nothing(
    new_client: MakeClient, app_manager: SessionManager
) -> None:
    alice = await new_client()
    mallory = await new_client()
    await start_demo(alice, "alice")
    mallorys_token = await start_demo(mallory, "mallory")

    for csrf in [None, "", "0" * 64, mallorys_token]:
        fields = {"message": "Do I need a visa?"} | ({"csrf": csrf} if csrf is not None else {})
        refused = await alice.post("/chat", data=fields)
        assert refused.status_code == 403
    assert (await alice.post("/signout", data={})).status_code == 403

    assert len(await messages_of(app_manager, alice)) == 1  # the welcome only
    assert (await alice.get("/chat")).status_code == 200


async def test_posts_from_another_origin_are_refused(new_client: MakeClient, app_manager: SessionManager) -> None:
    client = await new_client()
    refused = await sign_in(client, "amira", headers={"origin": "https://evil.example"})
    assert refused.status_code == 403
    assert (await app_manager.stats())["active_sessions"] == 0
    allowed = await sign_in(client, "amira", headers={"origin": "http://testserver"})
    assert allowed.status_code == 303


async def test_oversized_forms_are_refused_unread(new_client: MakeClient, app_manager: SessionManager) -> None:
    client = await new_client()
    refused = await sign_in(client, "amira", padding="x" * 20_000)
    assert refused.status_code == 403
    assert "too large" in refused.text
    assert (await app_manager.stats())["active_sessions"] == 0


async def test_chat_answers_and_keeps_the_conversation(new_client: MakeClient, app_manager: SessionManager) -> None:
    client = await new_client()
    csrf = await start_demo(client, "amira", industry="diving")

    sent = await client.post("/chat", data={"message": "Is the Blue Hole safe?", "csrf": csrf})

    assert sent.status_code == 303
    conversation = await messages_of(app_manager, client)
    assert conversation[1:] == ["Is the Blue Hole safe?", conversation[2]]
    assert conversation[2].startswith("Dahab is Sinai's laid-back town")
    assert len(conversation[2]) == 200  # the answer is longer than max_message_length: clipped, not refused
    assert conversation[2].endswith("…")
    page = await client.get("/chat")
    assert "Is the Blue Hole safe?" in page.text
    assert "Tell me more" in page.text


@pytest.mark.parametrize("message", ["", "   ", "x" * 201])
async def test_messages_that_cannot_be_stored_are_refused_and_nothing_is_stored(
    new_client: MakeClient, app_manager: SessionManager, message: str
) -> None:
    client = await new_client()
    csrf = await start_demo(client, "amira")

    refused = await client.post("/chat", data={"message": message, "csrf": csrf})

    assert refused.status_code == 400
    assert "That message cannot be sent" in refused.text
    assert len(await messages_of(app_manager, client)) == 1


async def test_markup_in_names_and_messages_is_escaped(new_client: MakeClient) -> None:
    client = await new_client()
    csrf = await start_demo(client, "<b>amira</b>")
    await client.post("/chat", data={"message": "<script>alert(1)</script>", "csrf": csrf})

    page = await client.get("/chat")

    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;amira&lt;/b&gt;" in page.text


async def test_a_user_cannot_revoke_someone_elses_session(new_client: MakeClient, app_manager: SessionManager) -> None:
    alice = await new_client()
    bob = await new_client()
    await start_demo(alice, "alice")
    bobs_csrf = await start_demo(bob, "bob")
    alices_session = (await app_manager.list_user_sessions("alice"))[0]

    answer = await bob.post("/sessions/revoke", data={"session_id": alices_session.id, "csrf": bobs_csrf})

    assert answer.status_code == 303
    assert "already+ended" in answer.headers["location"]
    assert [s.id for s in await app_manager.list_user_sessions("alice")] == [alices_session.id]
    assert (await alice.get("/chat")).status_code == 200


async def test_picking_an_industry_replaces_the_session_and_starts_over(
    new_client: MakeClient, app_manager: SessionManager
) -> None:
    client = await new_client()
    csrf = await start_demo(client, "amira", industry="hotel")
    await client.post("/chat", data={"message": "visa?", "csrf": csrf})
    first = client.cookies.get("session_token")

    await client.post("/industry", data={"industry": "cruise", "csrf": csrf})

    assert client.cookies.get("session_token") != first
    assert await app_manager.get(first) is None
    assert len(await app_manager.list_user_sessions("amira")) == 1
    status = await app_manager.demo_status(client.cookies.get("session_token"))
    assert status is not None
    assert (status.industry, status.messages, status.step) == ("cruise", 1, 1)
    unknown = await client.post("/industry", data={"industry": "mining", "csrf": csrf_in(await client.get("/chat"))})
    assert unknown.status_code == 400


async def test_operator_numbers_and_health(new_client: MakeClient) -> None:
    client = await new_client()
    await start_demo(client, "amira")

    numbers = (await client.get("/operator.json")).json()
    health = await client.get("/healthz")

    assert numbers["stats"]["active_sessions"] == 1
    assert numbers["stats"]["demo_ttl"] == 86_400
    assert numbers["health"]["status"] == "ok"
    assert health.status_code == 200
    assert "active sessions" in (await client.get("/operator")).text


async def test_the_demo_serves_its_prometheus_metrics_without_sessions_or_secrets(new_client: MakeClient) -> None:
    client = await new_client()
    await start_demo(client, "amira")
    token = client.cookies["session_token"]

    scraped = await (await new_client()).get("/metrics")  # a scraper: no cookie

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "set-cookie" not in scraped.headers
    assert "sessionhub_active_sessions 1.0" in scraped.text
    assert 'sessionhub_sessions_created_total{kind="demo"}' in scraped.text
    assert 'sessionhub_demo_http_requests_total{status="2xx"}' in scraped.text
    assert token not in scraped.text
    assert "amira" not in scraped.text


async def test_a_logout_landing_mid_request_sends_the_browser_to_sign_in_not_a_500(
    new_client: MakeClient, app_manager: SessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session is loaded, then ended by another tab before the page reads its messages or progress: the
    manager's SessionNotFound becomes the same redirect as a session that had ended before the request."""
    client = await new_client()
    await start_demo(client, "amira")
    read_messages = app_manager.get_messages

    async def signed_out_meanwhile(token: str | None, *, limit: int | None = None) -> list[Message]:
        await app_manager.revoke_user_sessions("amira")
        return await read_messages(token, limit=limit)

    monkeypatch.setattr(app_manager, "get_messages", signed_out_meanwhile)
    chat = await client.get("/chat")

    assert (chat.status_code, chat.headers["location"]) == (303, "/?ended=1")
    landing = await client.get("/?ended=1")  # this request finds the session ended: its cookie goes
    assert "it was revoked from another device" in landing.text
    assert "session_token" not in client.cookies
