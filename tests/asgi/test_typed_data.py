"""Typed session data through the middleware: `request.session` keeps datetimes, UUIDs, sets and tuples across
requests with the typed-json codec; with plain JSON such a value is a 500 for that request only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionhub import SessionManager
from sessionhub.asgi import SessionMiddleware
from tests.asgi.conftest import MakeClient, MakeCountedManager

VISITED = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)


async def remember(request: Request) -> JSONResponse:
    request.session["visited"] = VISITED
    request.session["order"] = uuid.UUID(int=42)
    request.session.setdefault("pages", set()).add(request.query_params["page"])
    request.session["viewport"] = (1280, 720)
    return JSONResponse({})


async def describe(request: Request) -> JSONResponse:
    session = request.session
    return JSONResponse(
        {
            "types": {key: type(value).__name__ for key, value in session.items()},
            "visited": session["visited"].isoformat(),
            "pages": sorted(session["pages"]),
        }
    )


def typed_app(manager: SessionManager) -> Starlette:
    routes = [Route("/remember", remember), Route("/describe", describe)]
    return Starlette(routes=routes, middleware=[Middleware(SessionMiddleware, manager=manager)])


async def test_the_session_keeps_typed_values_across_requests(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    client = await make_client(typed_app(await make_counted_manager(data_codec="typed-json")))
    await client.get("/remember", params={"page": "home"})
    await client.get("/remember", params={"page": "cart"})

    described = (await client.get("/describe")).json()

    assert described == {
        "types": {"visited": "datetime", "order": "UUID", "pages": "set", "viewport": "tuple"},
        "visited": VISITED.isoformat(),
        "pages": ["cart", "home"],
    }


async def test_on_plain_json_a_typed_value_fails_only_its_request(
    make_counted_manager: MakeCountedManager, make_client: MakeClient
) -> None:
    client = await make_client(typed_app(await make_counted_manager()))
    assert (await client.get("/remember", params={"page": "home"})).status_code == 500
    assert "set-cookie" not in (await client.get("/remember", params={"page": "home"})).headers
