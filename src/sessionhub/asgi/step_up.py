"""Step-up authentication: an action that needs the user to have proved who they are recently (changing a password
or an e-mail address, paying), whatever the session's age (OWASP ASVS 4.0.3 3.7.1, 5.0 7.5.1).

A refused request gets 401 with a JSON body an application turns into a re-login, in the words of RFC 9470 (OAuth
step-up): `{"error": "insufficient_user_authentication", "max_age": 300, ...}`, and a `WWW-Authenticate` header
saying the same. Once the user has signed in again, call `reauthenticated` (the token moves, `authenticated_at` is
now) and retry the action.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from sessionhub.asgi.helpers import get_session, request_session

NOT_AUTHENTICATED = "not_authenticated"
STALE_AUTHENTICATION = "insufficient_user_authentication"
"""The error code RFC 9470 gives a request whose authentication is too old for the resource."""


@dataclass(frozen=True, slots=True)
class StepUpRefusal:
    """Why a request may not go on: nobody is signed in, or the sign-in is older than `max_age` seconds."""

    error: str
    max_age: float
    authenticated_at: str | None = None

    @property
    def body(self) -> dict[str, Any]:
        detail = "Not authenticated" if self.error == NOT_AUTHENTICATED else "Sign in again to continue"
        body: dict[str, Any] = {"error": self.error, "detail": detail, "max_age": self.max_age}
        if self.authenticated_at is not None:
            body["authenticated_at"] = self.authenticated_at
        return body

    @property
    def headers(self) -> dict[str, str]:
        challenge = f'Session error="{self.error}", max_age={self.max_age:g}'
        return {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=401, headers=self.headers)


def check_max_age(max_age: float) -> float:
    """`max_age` if a step-up limit can be that (0 or more seconds), else ValueError."""
    if max_age < 0:
        raise ValueError("max_age must be 0 or more seconds")
    return max_age


def step_up_refusal(connection: HTTPConnection, max_age: float) -> StepUpRefusal | None:
    """None when the request's user signed in (or re-authenticated) at most `max_age` seconds ago; else why not."""
    check_max_age(max_age)
    session = get_session(connection)
    if session is None or session.user_id is None:
        return StepUpRefusal(NOT_AUTHENTICATED, max_age)
    age = request_session(connection).manager.authentication_age(session)
    if age is None or age > max_age:
        at = session.authenticated_at
        return StepUpRefusal(STALE_AUTHENTICATION, max_age, at.isoformat() if at is not None else None)
    return None


Endpoint = Callable[[Request], Awaitable[Response]]


def require_recent_authentication(max_age: float) -> Callable[[Endpoint], Endpoint]:
    """A decorator for Starlette endpoints: the endpoint runs only for a user who signed in at most `max_age`
    seconds ago; anyone else gets the 401 above.

    ```python
    @require_recent_authentication(300)
    async def change_password(request: Request) -> Response: ...
    ```
    """
    check_max_age(max_age)

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            refusal = step_up_refusal(request, max_age)
            return refusal.response() if refusal is not None else await endpoint(request)

        return guarded

    return decorate
