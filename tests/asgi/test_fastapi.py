"""sessionhub.fastapi's dependencies, and the example FastAPI application driven through its pages."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request, WebSocket

from sessionhub import Session, SessionManager
from sessionhub.asgi import SessionMiddleware, login
from sessionhub.fastapi import current_session, current_user, optional_user
from tests.asgi.conftest import MakeClient, RoundTrips, websocket_messages
from tests.asgi.test_middleware import COOKIE

EXAMPLE = Path(__file__).parents[2] / "examples" / "fastapi_app.py"


def dependencies_app(manager: SessionManager) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, manager=manager)

    @app.get("/session")
    async def session(this: Annotated[Session | None, Depends(current_session)]) -> dict[str, Any]:
        return {"id": this.id if this else None, "data": dict(this.data) if this else None}

    @app.get("/me")
    async def me(user: Annotated[str, Depends(current_user)]) -> dict[str, str]:
        return {"user": user}

    @app.get("/maybe")
    async def maybe(user: Annotated[str | None, Depends(optional_user)]) -> dict[str, str | None]:
        return {"user": user}

    @app.post("/login/{user}")
    async def sign_in(request: Request, user: str) -> dict[str, bool]:
        request.session["before"] = "login"
        await login(request, user)
        return {"ok": True}

    @app.websocket("/ws")
    async def hello(websocket: WebSocket, user: Annotated[str, Depends(current_user)]) -> None:
        await websocket.accept()
        await websocket.send_json({"user": user})
        await websocket.close()

    return app


async def test_dependencies_before_and_after_login(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(dependencies_app(manager))

    assert (await client.get("/session")).json() == {"id": None, "data": None}
    assert (await client.get("/maybe")).json() == {"user": None}
    unauthenticated = await client.get("/me")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json() == {"detail": "Not authenticated"}

    await client.post("/login/amira")
    before = round_trips.count
    assert (await client.get("/me")).json() == {"user": "amira"}
    assert round_trips.count - before == 1
    assert (await client.get("/maybe")).json() == {"user": "amira"}
    session = (await client.get("/session")).json()
    assert session["data"] == {"before": "login"}
    assert len(session["id"]) == 34


async def test_current_user_closes_an_unauthenticated_websocket(manager: SessionManager) -> None:
    app = dependencies_app(manager)
    signed_in = await manager.create(user_id="amira")

    refused = await websocket_messages(app, "/ws", {})
    accepted = await websocket_messages(app, "/ws", {"Cookie": f"{COOKIE}={signed_in.token}"})

    assert refused[0]["type"] == "websocket.close"
    assert refused[0]["code"] == 1008
    assert accepted[1]["text"] == '{"user":"amira"}'


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sessionhub_example_fastapi_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def session_ids(page: httpx.Response) -> list[str]:
    return re.findall(r"<li id='([0-9a-f]{34})'>", page.text)


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/login", data={"username": username, "password": password})


async def test_example_counter_survives_sign_in_and_sign_out_ends_it(
    example: ModuleType, manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(example.create_app(manager))
    assert "Not signed in" in (await client.get("/")).text

    await client.post("/counter")
    await client.post("/counter")
    assert (await client.get("/api/me")).json() == {"user": None, "count": 2}

    failed = await sign_in(client, "amira", "wrong")
    assert failed.status_code == 401
    assert (await sign_in(client, "nobody", "papyrus")).status_code == 401

    signed_in = await sign_in(client, "amira", "papyrus")
    assert signed_in.status_code == 303
    assert (await client.get("/api/me")).json() == {"user": "amira", "count": 2}
    assert "<strong id='user'>amira</strong>" in (await client.get("/")).text

    await client.post("/logout")
    assert (await client.get("/api/me")).json() == {"user": None, "count": 0}
    assert (await client.get("/sessions")).status_code == 401
    assert (await client.get("/health")).json()["status"] == "ok"


async def test_example_lists_and_revokes_devices(
    example: ModuleType, manager: SessionManager, make_client: MakeClient
) -> None:
    app = example.create_app(manager)
    laptop = await make_client(app)
    phone = await make_client(app)
    intruder = await make_client(app)
    await sign_in(laptop, "amira", "papyrus")
    await sign_in(phone, "amira", "papyrus")
    await sign_in(intruder, "bastian", "scarab")

    listed = await laptop.get("/sessions")
    ids = session_ids(listed)
    assert len(ids) == 2
    assert listed.text.count("(this device)") == 1
    phone_id = (await phone.get("/sessions")).text.split("(this device)")[0].rsplit("<li id='", 1)[1][:34]
    assert phone_id in ids

    refused = await intruder.post(f"/sessions/{phone_id}/revoke")
    assert refused.status_code == 404
    assert (await phone.get("/api/me")).json()["user"] == "amira"

    await laptop.post(f"/sessions/{phone_id}/revoke")
    assert (await phone.get("/api/me")).json()["user"] is None
    assert len(session_ids(await laptop.get("/sessions"))) == 1

    await sign_in(phone, "amira", "papyrus")
    await laptop.post("/sessions/revoke-others")
    assert (await phone.get("/api/me")).json()["user"] is None
    assert (await laptop.get("/api/me")).json()["user"] == "amira"

    own_id = session_ids(await laptop.get("/sessions"))[0]
    await laptop.post(f"/sessions/{own_id}/revoke")
    assert (await laptop.get("/api/me")).json()["user"] is None
