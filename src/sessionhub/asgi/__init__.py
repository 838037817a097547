"""sessionhub for ASGI applications (Starlette, FastAPI): middleware, helpers for handlers, and authentication.

```python
app.add_middleware(SessionMiddleware, manager=manager)


async def sign_in(request):
    request.session["theme"] = "dark"  # a dict, as with Starlette's own SessionMiddleware
    await login(request, user_id="amira")  # new token, data kept; the cookie follows
```
"""

from sessionhub.asgi.auth import RequireAuthentication, SessionAuthBackend, SessionUser, add_auth_middleware
from sessionhub.asgi.helpers import (
    get_session,
    login,
    logout,
    needs_reauthentication,
    reauthenticated,
    rotate,
    session_risk,
    switch_to,
)
from sessionhub.asgi.middleware import SessionMiddleware
from sessionhub.asgi.step_up import require_recent_authentication, step_up_refusal

__all__ = [
    "RequireAuthentication",
    "SessionAuthBackend",
    "SessionMiddleware",
    "SessionUser",
    "add_auth_middleware",
    "get_session",
    "login",
    "logout",
    "needs_reauthentication",
    "reauthenticated",
    "require_recent_authentication",
    "rotate",
    "session_risk",
    "step_up_refusal",
    "switch_to",
]
