"""The application every contender serves and the session payload it stores.

Each session-backed contender wraps the same three endpoints in its own middleware:

- ``GET /login?user=N`` fills the session with a typical payload for user N (seeding, not timed);
- ``GET /read`` reads one key and returns the user id (the read-only scenario);
- ``GET /write`` increments a counter in the session and returns it (the modifying scenario).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

SessionOf = Callable[[Request], Awaitable[MutableMapping[str, Any]]]
"""How a handler reaches the session of a request with a given middleware."""


def typical_payload(user: int) -> dict[str, Any]:
    """A signed-in shopper: a user id, a small cart and a few flags."""
    return {
        "user_id": user,
        "cart": [
            {"sku": "SKU-100231", "qty": 1, "price_cents": 1999},
            {"sku": "SKU-204518", "qty": 2, "price_cents": 450},
            {"sku": "SKU-377802", "qty": 1, "price_cents": 12900},
        ],
        "flags": {"beta_ui": True, "newsletter": False, "mfa_passed": True},
        "locale": "en-GB",
    }


async def scope_session(request: Request) -> MutableMapping[str, Any]:
    """Middlewares that put a dict-like session in ``scope["session"]`` (Starlette, starsessions)."""
    session: MutableMapping[str, Any] = request.session
    return session


def session_app(middleware: Sequence[Middleware], session_of: SessionOf = scope_session) -> Starlette:
    async def login(request: Request) -> PlainTextResponse:
        session = await session_of(request)
        session.update(typical_payload(int(request.query_params["user"])))
        return PlainTextResponse("ok")

    async def read(request: Request) -> PlainTextResponse:
        session = await session_of(request)
        return PlainTextResponse(str(session["user_id"]))

    async def write(request: Request) -> PlainTextResponse:
        session = await session_of(request)
        counter = int(session.get("counter", 0)) + 1
        session["counter"] = counter
        return PlainTextResponse(str(counter))

    routes = [Route("/login", login), Route("/read", read), Route("/write", write)]
    return Starlette(routes=routes, middleware=list(middleware))


def bare_app() -> Starlette:
    """The same endpoints without sessions: the ceiling of what Starlette itself serves."""

    async def constant(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [Route("/login", constant), Route("/read", constant), Route("/write", constant)]
    return Starlette(routes=routes)


@dataclass(frozen=True)
class Scenario:
    """A timed request loop: which path each client requests and the body its n-th request must return."""

    name: str
    path: str
    expected_body: Callable[[int, int], bytes]
    """``expected_body(user, n)``: for the client signed in as ``user``, its n-th request (from 1)."""


SCENARIOS = (
    Scenario("read-only", "/read", lambda user, _n: str(user).encode()),
    Scenario("modifying", "/write", lambda _user, n: str(n).encode()),
)
