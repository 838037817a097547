"""The Starlette application the ASGI tests drive: one small route per behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sessionhub import SessionManager
from sessionhub.asgi import SessionMiddleware, get_session, login, logout, rotate, switch_to


def describe(request: Request, **extra: Any) -> JSONResponse:
    session = get_session(request)
    return JSONResponse(
        {
            "data": dict(request.session),
            "user": session.user_id if session else None,
            "id": session.id if session else None,
            **extra,
        }
    )


def write_query(request: Request) -> None:
    for key, value in request.query_params.items():
        request.session[key] = value


async def read(request: Request) -> Response:
    return describe(request)


async def write(request: Request) -> Response:
    write_query(request)
    return describe(request)


async def append(request: Request) -> Response:
    request.session.setdefault("cart", []).append(request.query_params["item"])
    return describe(request)


async def remove(request: Request) -> Response:
    request.session.pop(request.query_params["key"], None)
    return describe(request)


async def sign_in(request: Request) -> Response:
    write_query(request)
    await login(request, request.path_params["user"])
    return describe(request)


async def sign_in_remembering(request: Request) -> Response:
    """A sign-in form's "remember me" box: ?remember=1 or 0."""
    remember = request.query_params["remember"] == "1"
    await login(request, request.path_params["user"], remember=remember)
    return describe(request)


async def sign_in_then_write(request: Request) -> Response:
    await login(request, request.path_params["user"])
    write_query(request)
    return describe(request)


async def sign_out(request: Request) -> Response:
    await logout(request)
    write_query(request)
    return describe(request)


async def clear(request: Request) -> Response:
    """Starlette-style sign-out: clear the dict, then maybe write into it again."""
    request.session.clear()
    write_query(request)
    return describe(request)


async def rotate_token(request: Request) -> Response:
    write_query(request)
    rotated = await rotate(request)
    return describe(request, rotated=rotated is not None)


async def start_demo(request: Request) -> Response:
    write_query(request)
    manager: SessionManager = request.app.state.manager
    current = get_session(request)
    demo = await manager.create_demo_session(
        industry=request.path_params["industry"], user_id=current.user_id if current else None, replaces=current
    )
    await switch_to(request, demo)
    return describe(request, kind=demo.kind)


async def start_demo_forgetting_replaces(request: Request) -> Response:
    """A handler that makes the same user a new session without `replaces=`: switch_to refuses it."""
    manager: SessionManager = request.app.state.manager
    current = get_session(request)
    demo = await manager.create_demo_session(
        industry=request.path_params["industry"], user_id=current.user_id if current else None
    )
    await switch_to(request, demo)
    return describe(request)


async def fail(request: Request) -> Response:
    write_query(request)
    return PlainTextResponse("unavailable", status_code=int(request.query_params.get("status", "503")))


async def sign_in_then_fail(request: Request) -> Response:
    await login(request, request.path_params["user"])
    request.session["lost"] = "yes"
    return PlainTextResponse("failed after signing in", status_code=500)


async def crash(request: Request) -> Response:
    write_query(request)
    raise RuntimeError("the handler failed")


async def stream(request: Request) -> Response:
    write_query(request)

    async def chunks() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"chunk {number}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def unstorable(request: Request) -> Response:
    request.session["when"] = {1, 2}  # a set: JSON cannot hold it
    if "stream" in request.query_params:

        async def chunks() -> AsyncIterator[bytes]:
            yield b"should never be sent"

        return StreamingResponse(chunks())
    return PlainTextResponse("should never be sent")


async def cached(request: Request) -> Response:
    write_query(request)
    return PlainTextResponse("ok", headers={"Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding"})


async def static(request: Request) -> Response:
    return JSONResponse({"has_session": "session" in request.scope})


async def client(request: Request) -> Response:
    request.session["seen"] = True
    session_id = get_session(request)
    return JSONResponse({"id": session_id.id if session_id else None})


async def wait_then_write(request: Request) -> Response:
    gate: asyncio.Event = request.app.state.gate
    request.app.state.waiting.set()
    await gate.wait()
    write_query(request)
    return describe(request)


async def write_when_all_loaded(request: Request) -> Response:
    """Wait until every concurrent request has loaded the session, so that each saves over the others' loads."""
    barrier: asyncio.Barrier = request.app.state.barrier
    await barrier.wait()
    write_query(request)
    return describe(request)


async def websocket_session(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"data": dict(websocket.session)})
    websocket.session["from_websocket"] = True
    try:
        await login(websocket, "mallory")
    except RuntimeError as exc:
        await websocket.send_json({"login": str(exc)})
    await websocket.close()


ROUTES = [
    Route("/", read),
    Route("/write", write),
    Route("/append", append),
    Route("/remove", remove),
    Route("/login/{user}", sign_in),
    Route("/login-remembering/{user}", sign_in_remembering),
    Route("/login-then-write/{user}", sign_in_then_write),
    Route("/login-then-fail/{user}", sign_in_then_fail),
    Route("/logout", sign_out),
    Route("/clear", clear),
    Route("/rotate", rotate_token),
    Route("/demo/{industry}", start_demo),
    Route("/demo-forgetting-replaces/{industry}", start_demo_forgetting_replaces),
    Route("/fail", fail),
    Route("/crash", crash),
    Route("/stream", stream),
    Route("/unstorable", unstorable),
    Route("/cached", cached),
    Route("/static/{rest:path}", static),
    Route("/staticky", static),
    Route("/client", client),
    Route("/wait-then-write", wait_then_write),
    Route("/write-when-all-loaded", write_when_all_loaded),
    WebSocketRoute("/ws", websocket_session),
]


def build_app(manager: SessionManager, **options: Any) -> Starlette:
    options.setdefault("exclude_paths", ["/static"])
    app = Starlette(routes=ROUTES, middleware=[Middleware(SessionMiddleware, manager=manager, **options)])
    app.state.manager = manager
    app.state.gate = asyncio.Event()
    app.state.waiting = asyncio.Event()
    return app
