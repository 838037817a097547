"""The demo's hardening, over real HTTP (uvicorn on loopback) on every backend: the sign-in form's CSRF token, form
bodies bounded while they stream, no redirect built from the Host header, and an absolute timeout that picking an
industry again cannot reset."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from sessionhub import SessionManager
from sessionhub.demo.app import MAX_FORM_BYTES, create_app
from tests.asgi.conftest import uvicorn_server
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager

ABSOLUTE = 8


@pytest.fixture
async def app_manager(make_manager: MakeManager) -> SessionManager:
    return await make_manager(absolute_ttl=ABSOLUTE, session_ttl=ABSOLUTE, demo_ttl=ABSOLUTE)


@pytest.fixture
async def base_url(app_manager: SessionManager) -> AsyncIterator[str]:
    async with uvicorn_server(create_app(app_manager)) as url:
        yield url


@pytest.fixture
async def browser(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        yield client


def csrf_in(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


async def test_the_sign_in_form_needs_its_token_from_this_browser(
    browser: httpx.AsyncClient, base_url: str, app_manager: SessionManager
) -> None:
    # Another site's form: no Origin header (some browsers and proxies drop it), no token, or a token of its own.
    async with httpx.AsyncClient(base_url=base_url) as attacker:
        attackers_token = csrf_in(await attacker.get("/"))
    for fields in ({"name": "mallory"}, {"name": "mallory", "csrf": attackers_token}):
        refused = await browser.post("/signin", data=fields)
        assert refused.status_code == 403
        assert "sign-in form has expired" in refused.text
    assert (await app_manager.stats())["active_sessions"] == 0

    page = await browser.get("/")
    nonce_cookie = [value for value in page.headers.get_list("set-cookie") if "sessionhub_signin=" in value]
    assert nonce_cookie
    assert "httponly" in nonce_cookie[0].lower()
    assert "samesite=strict" in nonce_cookie[0].lower()
    signed_in = await browser.post("/signin", data={"name": "amira", "csrf": csrf_in(page)})
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/industry")


async def test_a_form_body_is_refused_as_soon_as_it_is_too_large(base_url: str, app_manager: SessionManager) -> None:
    """A chunked body with no length: the old code read all of it (64 MiB) before checking. The answer must come
    while the body is still being sent."""
    address = urlsplit(base_url)
    assert address.hostname is not None
    assert address.port is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(
            b"POST /signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"a" * 16_384
        for _ in range(4 * MAX_FORM_BYTES // len(chunk)):  # four times the limit, and the body never ends
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        async with asyncio.timeout(5):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 403")
    assert (await app_manager.stats())["active_sessions"] == 0


async def test_no_redirect_is_built_from_the_host_header(browser: httpx.AsyncClient) -> None:
    for path in ("/chat/", "/industry/", "/sessions/"):
        response = await browser.get(path, headers={"host": "evil.example"})
        assert response.status_code == 404
        assert "location" not in response.headers


async def test_picking_an_industry_again_never_extends_the_sign_in(
    browser: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The review's finding: picking every 2 s kept a user signed in past an 8 s absolute limit (at 14.5 s)."""
    page = await browser.get("/")
    await browser.post("/signin", data={"name": "amira", "csrf": csrf_in(page)})
    for _ in range(3):
        clock.advance(2)
        industry = await browser.get("/industry")
        picked = await browser.post("/industry", data={"industry": "hotel", "csrf": csrf_in(industry)})
        assert picked.headers["location"] == "/chat"
    clock.advance(1.9)
    assert (await browser.get("/chat")).status_code == 200  # 7.9 s after signing in
    clock.advance(0.2)
    ended = await browser.get("/chat")
    assert (ended.status_code, ended.headers["location"]) == (303, "/?ended=1")
