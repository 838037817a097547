"""Concurrent requests on one session: no lost updates, and no request undoes a logout."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sessionhub import SessionManager
from tests.asgi.app import build_app
from tests.asgi.conftest import MakeClient
from tests.asgi.test_middleware import COOKIE

CONCURRENT_REQUESTS = 20


async def test_concurrent_requests_setting_different_keys_all_keep_their_key(
    manager: SessionManager, make_client: MakeClient
) -> None:
    app = build_app(manager)
    app.state.barrier = asyncio.Barrier(CONCURRENT_REQUESTS)
    client = await make_client(app)
    await client.get("/write", params={"start": "yes"})

    async with asyncio.timeout(30):
        responses = await asyncio.gather(
            *(
                client.get("/write-when-all-loaded", params={f"key{number}": str(number)})
                for number in range(CONCURRENT_REQUESTS)
            )
        )

    assert all(response.status_code == 200 for response in responses)
    assert all("set-cookie" not in response.headers for response in responses)
    expected = {"start": "yes"} | {f"key{number}": str(number) for number in range(CONCURRENT_REQUESTS)}
    assert (await client.get("/")).json()["data"] == expected


async def test_a_slow_request_cannot_undo_a_logout(
    manager: SessionManager, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(manager)
    client = await make_client(app)
    await client.get("/login/amira")
    token = client.cookies[COOKIE]
    session = await manager.get(token)
    assert session is not None

    with caplog.at_level(logging.INFO, logger="sessionhub.asgi"):
        slow = asyncio.create_task(client.get("/wait-then-write", params={"late": "write"}))
        await asyncio.wait_for(app.state.waiting.wait(), timeout=10)
        await client.get("/logout")
        app.state.gate.set()
        response = await slow

    assert response.status_code == 200
    assert "set-cookie" not in response.headers  # a later cookie from another request must not be overwritten
    assert await manager.get(token) is None
    assert await manager.list_user_sessions("amira") == []
    messages = [record.getMessage() for record in caplog.records]
    assert any(session.id in message and "dropped" in message for message in messages)
    assert all(token not in message for message in messages)
