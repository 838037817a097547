"""SessionAuthBackend and add_auth_middleware: request.user from the session, 401 outside public paths."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sessionhub import SessionManager
from sessionhub.asgi import SessionAuthBackend, SessionMiddleware, add_auth_middleware, login
from tests.asgi.conftest import MakeClient, RoundTrips, websocket_messages
from tests.asgi.test_middleware import COOKIE


async def whoami(request: Request) -> Response:
    user = request.user
    return JSONResponse(
        {
            "authenticated": user.is_authenticated,
            "identity": user.identity if user.is_authenticated else None,
            "display_name": user.display_name,
            "scopes": request.auth.scopes if request.auth else [],
        }
    )


async def sign_in(request: Request) -> Response:
    await login(request, request.path_params["user"])
    return JSONResponse({"signed_in": True})


async def hello(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user": websocket.user.identity})
    await websocket.close()


ROUTES = [
    Route("/public/login/{user}", sign_in),
    Route("/public/whoami", whoami),
    Route("/publicity", whoami),
    Route("/account", whoami),
    Route("/", whoami),
    WebSocketRoute("/ws", hello),
]


def guarded_app(manager: SessionManager) -> Starlette:
    app = Starlette(routes=ROUTES)
    # Added before the session middleware on purpose: the auth layer still ends up inside it.
    add_auth_middleware(app, manager, public_paths=["/public"])
    app.add_middleware(SessionMiddleware, manager=manager)
    return app


async def test_non_public_paths_answer_401_json_without_a_signed_in_session(
    manager: SessionManager, make_client: MakeClient
) -> None:
    client = await make_client(guarded_app(manager))

    for path in ["/", "/account", "/publicity"]:
        response = await client.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "Not authenticated"}
        assert response.headers["content-type"] == "application/json"

    public = await client.get("/public/whoami")
    assert public.status_code == 200
    assert public.json()["authenticated"] is False


async def test_an_anonymous_session_is_not_signed_in(manager: SessionManager, make_client: MakeClient) -> None:
    anonymous = await manager.create(data={"cart": ["papyrus"]})
    client = await make_client(guarded_app(manager))
    response = await client.get("/account", headers={"Cookie": f"{COOKIE}={anonymous.token}"})
    assert response.status_code == 401


async def test_a_signed_in_session_is_the_user_at_one_round_trip(
    manager: SessionManager, make_client: MakeClient, round_trips: RoundTrips
) -> None:
    client = await make_client(guarded_app(manager))
    await client.get("/public/login/amira")
    before = round_trips.count

    response = await client.get("/account")

    assert response.status_code == 200
    assert response.json() == {
        "authenticated": True,
        "identity": "amira",
        "display_name": "amira",
        "scopes": ["authenticated"],
    }
    assert round_trips.count - before == 1  # the session the middleware loaded is reused


async def test_the_backend_works_without_the_session_middleware(
    manager: SessionManager, make_client: MakeClient
) -> None:
    @requires("authenticated", status_code=401)
    async def private(request: Request) -> Response:
        return await whoami(request)

    app = Starlette(
        routes=[Route("/private", private)],
        middleware=[Middleware(AuthenticationMiddleware, backend=SessionAuthBackend(manager))],
    )
    client = await make_client(app)
    signed_in = await manager.create(user_id="amira")

    assert (await client.get("/private")).status_code == 401
    response = await client.get("/private", headers={"Cookie": f"{COOKIE}={signed_in.token}"})
    assert response.json()["identity"] == "amira"


async def test_websockets_need_a_signed_in_session_too(manager: SessionManager) -> None:
    app = guarded_app(manager)
    signed_in = await manager.create(user_id="amira")

    refused = await websocket_messages(app, "/ws", {})
    accepted = await websocket_messages(app, "/ws", {"Cookie": f"{COOKIE}={signed_in.token}"})

    assert refused == [{"type": "websocket.close", "code": 1008, "reason": "Not authenticated"}]
    assert accepted[0]["type"] == "websocket.accept"
    assert accepted[1]["text"] == '{"user":"amira"}'
