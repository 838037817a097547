"""A small FastAPI app on sessionhub: a counter, sign-in and sign-out, "my sessions" with revoke, a security log, and
an action that needs a recent sign-in (step-up: confirm the password again after five minutes).

    uvicorn examples.fastapi_app:app          # in-memory sessions
    REDIS_URL=redis://localhost:6379/0 uvicorn examples.fastapi_app:app

Then open http://127.0.0.1:8000 and sign in as amira / papyrus or bastian / scarab (from two browsers, to see two
devices in "my sessions", and what happened to them in the security log). The counter works before signing in, and
signing in keeps it: the anonymous session's data moves into the signed-in one, under a new token.

State changes are POST forms only; the cookie's SameSite=Lax keeps other sites from sending them with the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from sessionhub import Session, SessionManager
from sessionhub.asgi import SessionMiddleware, login, logout, reauthenticated
from sessionhub.fastapi import current_session, current_user, optional_user, require_recent_authentication

STEP_UP_MAX_AGE = 300
"""Seconds a sign-in stays recent enough for the sensitive action (changing the password)."""


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


def _account(password: str) -> tuple[bytes, bytes]:
    salt = secrets.token_bytes(16)
    return salt, _hash(password, salt)


# Demo accounts; a real application checks its own user store here.
ACCOUNTS = {"amira": _account("papyrus"), "bastian": _account("scarab")}
_NOBODY = _account(secrets.token_urlsafe())


def check_password(username: str, password: str) -> bool:
    # Unknown names cost a hash too, so response times do not reveal which accounts exist.
    salt, expected = ACCOUNTS.get(username, _NOBODY)
    return hmac.compare_digest(_hash(password, salt), expected) and username in ACCOUNTS


async def form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the only kind these forms send), first value of each field."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>",
        status_code=status_code,
    )


def button(action: str, label: str) -> str:
    return f"<form method='post' action='{escape(action)}'><button>{escape(label)}</button></form>"


SIGN_IN_FORM = (
    "<form method='post' action='/login'>"
    "<label>User <input name='username' autocomplete='username'></label> "
    "<label>Password <input name='password' type='password' autocomplete='current-password'></label> "
    "<button>Sign in</button></form>"
)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def create_app(manager: SessionManager) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with manager:
            yield

    app = FastAPI(title="sessionhub demo", lifespan=lifespan)
    app.add_middleware(SessionMiddleware, manager=manager, exclude_paths=["/health"])

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request, user: Annotated[str | None, Depends(optional_user)]) -> HTMLResponse:
        count = request.session.get("count", 0)
        parts = [f"<p>Counter: <strong id='count'>{count}</strong></p>", button("/counter", "+1")]
        if user is None:
            parts += ["<p>Not signed in.</p>", SIGN_IN_FORM]
        else:
            parts += [
                f"<p>Signed in as <strong id='user'>{escape(user)}</strong>.</p>",
                "<p><a href='/sessions'>My sessions</a> · <a href='/security'>Security log</a></p>",
                button("/logout", "Sign out"),
            ]
        return page("sessionhub demo", "".join(parts))

    @app.post("/counter")
    async def count(request: Request) -> RedirectResponse:
        request.session["count"] = request.session.get("count", 0) + 1
        return see_other("/")

    @app.post("/login", response_model=None)
    async def sign_in(request: Request) -> RedirectResponse | HTMLResponse:
        fields = await form(request)
        username = fields.get("username", "").strip()
        if not check_password(username, fields.get("password", "")):
            return page("Sign-in failed", "<p>Wrong user or password.</p>" + SIGN_IN_FORM, status_code=401)
        await login(request, username)
        return see_other("/")

    @app.post("/reauthenticate", response_model=None)
    async def confirm_password(
        request: Request, user: Annotated[str, Depends(current_user)]
    ) -> RedirectResponse | HTMLResponse:
        """The re-login a step-up refusal asks for: the password again, then a new token and sign-in time."""
        if not check_password(user, (await form(request)).get("password", "")):
            return page("Confirmation failed", "<p>Wrong password.</p>", status_code=401)
        await reauthenticated(request)
        return see_other("/")

    @app.post("/password")
    async def change_password(
        user: Annotated[str, Depends(require_recent_authentication(STEP_UP_MAX_AGE))],
    ) -> dict[str, str]:
        # A real application stores the new password here; a 401 above asks the browser to confirm the old one.
        return {"changed": user}

    @app.post("/logout")
    async def sign_out(request: Request) -> RedirectResponse:
        await logout(request)
        return see_other("/")

    @app.get("/sessions", response_class=HTMLResponse)
    async def my_sessions(
        user: Annotated[str, Depends(current_user)], this: Annotated[Session | None, Depends(current_session)]
    ) -> HTMLResponse:
        rows = []
        for session in await manager.list_user_sessions(user):
            marker = " (this device)" if this is not None and session.id == this.id else ""
            rows.append(
                f"<li id='{session.id}'>{escape(session.client.user_agent or 'unknown browser')} from "
                f"{escape(session.client.ip or 'unknown address')}, signed in {session.created_at:%Y-%m-%d %H:%M} UTC, "
                f"last active {session.last_active_at:%Y-%m-%d %H:%M} UTC{marker}"
                f"{button(f'/sessions/{session.id}/revoke', 'Sign out this device')}</li>"
            )
        body = f"<ul>{''.join(rows)}</ul>" + button("/sessions/revoke-others", "Sign out all other devices")
        return page("My sessions", body + "<p><a href='/'>Back</a></p>")

    @app.post("/sessions/revoke-others")
    async def revoke_others(
        user: Annotated[str, Depends(current_user)], this: Annotated[Session | None, Depends(current_session)]
    ) -> RedirectResponse:
        await manager.revoke_user_sessions(user, except_session_id=this.id if this else None)
        return see_other("/sessions")

    @app.post("/sessions/{session_id}/revoke")
    async def revoke(
        request: Request, session_id: str, user: Annotated[str, Depends(current_user)]
    ) -> RedirectResponse:
        this = current_session(request)
        if this is not None and session_id == this.id:
            await logout(request)
            return see_other("/")
        # Only the user's own sessions: an id from someone else's list must not work here.
        if session_id not in {session.id for session in await manager.list_user_sessions(user)}:
            raise HTTPException(status_code=404, detail="No such session")
        await manager.revoke(session_id)
        return see_other("/sessions")

    @app.get("/security", response_class=HTMLResponse)
    async def security_log(user: Annotated[str, Depends(current_user)]) -> HTMLResponse:
        rows = [
            f"<tr><td>{event.at:%Y-%m-%d %H:%M:%S}</td><td>{escape(event.type)}</td>"
            f"<td>{escape(event.reason or '')}</td><td>{escape(event.actor or '')}</td>"
            f"<td>{escape(event.ip or '')}</td><td>{escape(event.device or '')}</td></tr>"
            for event in await manager.security_events(user, limit=20)
        ]
        head = "<tr><th>UTC</th><th>event</th><th>reason</th><th>by</th><th>address</th><th>device</th></tr>"
        return page("Security log", f"<table>{head}{''.join(rows)}</table><p><a href='/'>Back</a></p>")

    @app.get("/api/me")
    async def me(request: Request, user: Annotated[str | None, Depends(optional_user)]) -> dict[str, Any]:
        return {"user": user, "count": request.session.get("count", 0)}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return await manager.health()

    return app


app = create_app(SessionManager.from_settings())
