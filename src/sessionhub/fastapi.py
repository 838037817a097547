"""FastAPI dependencies on top of `sessionhub.asgi.SessionMiddleware`.

```python
@app.get("/me")
async def me(user_id: Annotated[str, Depends(current_user)]) -> dict[str, str]:
    return {"user": user_id}
```
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, WebSocketException
from starlette.requests import HTTPConnection

from sessionhub.asgi.auth import POLICY_VIOLATION
from sessionhub.asgi.helpers import get_session
from sessionhub.asgi.step_up import check_max_age, step_up_refusal
from sessionhub.model import Session


def current_session(connection: HTTPConnection) -> Session | None:
    """The request's stored session, or None while there is none (see `sessionhub.asgi.get_session`)."""
    return get_session(connection)


def optional_user(connection: HTTPConnection) -> str | None:
    """The signed-in user's id, or None."""
    session = get_session(connection)
    return session.user_id if session is not None else None


def current_user(connection: HTTPConnection) -> str:
    """The signed-in user's id; 401 (or a closed websocket) when nobody is signed in."""
    user_id = optional_user(connection)
    if user_id is None:
        if connection.scope["type"] == "websocket":
            raise WebSocketException(code=POLICY_VIOLATION, reason="Not authenticated")
        raise HTTPException(status_code=401, detail="Not authenticated")
    return user_id


def require_recent_authentication(max_age: float) -> Callable[[HTTPConnection], str]:
    """A dependency for actions that need a recent sign-in (sessionhub.asgi.step_up): the user's id when they signed
    in or re-authenticated at most `max_age` seconds ago; else 401 with `{"error": ..., "max_age": ...}` as detail.

    ```python
    @app.post("/password")
    async def change_password(user_id: Annotated[str, Depends(require_recent_authentication(300))]) -> None: ...
    ```
    """
    check_max_age(max_age)

    def recently_authenticated_user(connection: HTTPConnection) -> str:
        refusal = step_up_refusal(connection, max_age)
        if refusal is not None:
            if connection.scope["type"] == "websocket":
                raise WebSocketException(code=POLICY_VIOLATION, reason=refusal.body["detail"])
            raise HTTPException(status_code=401, detail=refusal.body, headers=refusal.headers)
        user_id = optional_user(connection)
        assert user_id is not None
        return user_id

    return recently_authenticated_user
