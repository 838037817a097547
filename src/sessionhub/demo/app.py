"""The demo application: a FastAPI app on a SessionManager, served by `sessionhub demo`.

A visitor signs in with any name (`login`: a fresh token, fixation-safe), picks an industry (a new demo session,
kind `demo`, replaces the sign-in session), chats with the travel assistant (each message appended atomically next
to the session), walks through the demo's steps (`set_progress`), manages their devices (`list_user_sessions`,
`revoke`, `revoke_user_sessions`) and can watch the store on the operator page (`stats`, `health`).

Forms are POSTs. The cookie is HttpOnly and SameSite=Lax, and every form that changes something also carries a
per-session CSRF token: an HMAC of the session token under a key this process draws at start-up, so it needs no
storage, changes whenever the token does, and cannot be derived from the public session id. The sign-in form comes
before any session: its token is the HMAC of a random nonce in a short-lived cookie of its own (a double submit
that another site can neither read nor set), so no site can sign a visitor in under a name of its choosing. A POST
whose Origin names another site is refused as well, and a form body is read only up to MAX_FORM_BYTES, however it
is sent. No redirect is built from the Host header (no trailing-slash redirects: the paths are exact).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp

from sessionhub.asgi import SessionMiddleware, get_session, login, logout, switch_to
from sessionhub.asgi.middleware import client_info
from sessionhub.conversation import INDUSTRY_KEY, DemoStatus
from sessionhub.cookies import CookiePolicy
from sessionhub.demo import pages
from sessionhub.demo.assistant import respond, welcome
from sessionhub.demo.charts import MetricsHistory
from sessionhub.demo.knowledge import INDUSTRIES
from sessionhub.demo.pages import Viewer
from sessionhub.errors import BackendUnavailable, SessionDataError, SessionLimitExceeded, SessionNotFound
from sessionhub.manager import SessionManager
from sessionhub.metrics import SessionMetrics
from sessionhub.model import Session
from sessionhub.settings import DEMO_KIND
from sessionhub.tokens import session_id_for

STEPS = (
    "Sign in and pick an industry",
    "Ask the assistant a question",
    "Ask a follow-up: click a suggestion, or ask it to tell you more",
    "Open “My sessions” to see your devices",
    "Finish the tour",
)
MAX_FORM_BYTES = 16_384
SIGN_IN_NONCE_SECONDS = 3600
"""How long a sign-in form stays valid (its nonce cookie's lifetime)."""
NONCE_LENGTH = 32
MAX_NAME_LENGTH = 64
OPERATOR_REFRESH_SECONDS = 5
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class SignedOut(Exception):
    """The request needs a live signed-in session and has none (signed out, revoked, expired, or never)."""


class Forbidden(Exception):
    """A POST failed the CSRF or Origin check."""


class DemoSessions:
    """What the demo keeps beside its manager: the name of the session cookie and the key of its CSRF tokens."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        cookie = CookiePolicy.from_settings(manager.settings)
        self.cookie_name = cookie.name
        # The sign-in nonce's cookie follows the session cookie's prefix and Secure flag.
        prefix = cookie.name.removesuffix(manager.settings.session_cookie_name)
        self.nonce_cookie = f"{prefix}sessionhub_signin"
        self.nonce_secure = cookie.secure
        self._csrf_key = secrets.token_bytes(32)

    def sent_a_session_cookie(self, request: Request) -> bool:
        return session_id_for(request.cookies.get(self.cookie_name)) is not None

    def csrf_for(self, session: Session) -> str:
        return hmac.new(self._csrf_key, token_of(session).encode(), hashlib.sha256).hexdigest()

    def sign_in_nonce(self, request: Request) -> str:
        """The browser's sign-in nonce if it sent a well-formed one (several tabs share it), else a new one."""
        sent = request.cookies.get(self.nonce_cookie, "")
        return sent if len(sent) == NONCE_LENGTH and sent.isalnum() else secrets.token_hex(NONCE_LENGTH // 2)

    def sign_in_csrf(self, nonce: str) -> str:
        return hmac.new(self._csrf_key, b"signin:" + nonce.encode(), hashlib.sha256).hexdigest()

    def sign_in_page(self, request: Request, status_code: int = 200, **page: Any) -> HTMLResponse:
        """The sign-in form with its CSRF token, and the nonce cookie that token is bound to."""
        nonce = self.sign_in_nonce(request)
        response = HTMLResponse(pages.sign_in_page(csrf=self.sign_in_csrf(nonce), **page), status_code=status_code)
        response.set_cookie(
            self.nonce_cookie, nonce, max_age=SIGN_IN_NONCE_SECONDS, path="/", secure=self.nonce_secure,
            httponly=True, samesite="strict",
        )  # fmt: skip
        return response

    def check_sign_in(self, request: Request, fields: dict[str, str]) -> None:
        """The sign-in form's token: bound to the nonce cookie, or for a browser with a session (a form from a tab
        opened before), that session's own CSRF token."""
        sent = fields.get("csrf", "")
        nonce = request.cookies.get(self.nonce_cookie, "")
        session = get_session(request)
        valid = [self.sign_in_csrf(nonce)] if nonce else []
        valid += [self.csrf_for(session)] if session is not None and session.token is not None else []
        if not any(hmac.compare_digest(sent, token) for token in valid):
            raise Forbidden("This sign-in form has expired or did not come from this site: reload it and try again.")

    def current(self, request: Request) -> tuple[Session, Viewer] | None:
        """The signed-in session the middleware loaded for this request, and its viewer; None for visitors."""
        session = get_session(request)
        if session is None or session.user_id is None:
            return None
        return session, Viewer(user_id=session.user_id, csrf=self.csrf_for(session))

    def clip(self, reply: str) -> str:
        """An assistant's reply cut to the message length the store accepts (a setting the operator may lower)."""
        limit = self.manager.settings.max_message_length
        return reply if len(reply) <= limit else reply[: limit - 1] + "…"


def token_of(session: Session) -> str:
    """The token of a session this request loaded or created (listed sessions have none)."""
    assert session.token is not None
    return session.token


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# -- dependencies -------------------------------------------------------------------------------------------------


def demo_sessions(request: Request) -> DemoSessions:
    sessions: DemoSessions = request.app.state.sessions
    return sessions


Sessions = Annotated[DemoSessions, Depends(demo_sessions)]


async def signed_in(request: Request, sessions: Sessions) -> tuple[Session, Viewer]:
    current = sessions.current(request)
    if current is None:
        raise SignedOut
    return current


async def posted_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a same-origin POST (bounded in size)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("This form was sent from another site.")
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise Forbidden("This form is too large.")
    body = bytearray()
    async for chunk in request.stream():  # sent chunked, with no length declared: counted as it arrives
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Forbidden("This form is too large.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


SignedIn = Annotated[tuple[Session, Viewer], Depends(signed_in)]
PostedForm = Annotated[dict[str, str], Depends(posted_form)]


async def checked_form(fields: PostedForm, current: SignedIn) -> dict[str, str]:
    """A posted form that carries the CSRF token of the session that sent it."""
    if not hmac.compare_digest(fields.get("csrf", ""), current[1].csrf):
        raise Forbidden("This form has expired or did not come from this site: go back, reload and try again.")
    return fields


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


async def demo_of(sessions: DemoSessions, session: Session) -> DemoStatus:
    status = await sessions.manager.demo_status(token_of(session))
    if status is None:
        raise SignedOut
    return status


async def advance(sessions: DemoSessions, session: Session, status: DemoStatus, step: int) -> None:
    """Mark `step` done when it is the next one: the steps are a walk-through, taken in order."""
    if status.step == step - 1:
        await sessions.manager.set_progress(token_of(session), step=step, total=len(STEPS), status="in_progress")


# -- pages --------------------------------------------------------------------------------------------------------

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, sessions: Sessions) -> Response:
    if sessions.current(request) is not None:
        return redirect("/chat")
    message = (
        "Your session has ended: you signed out, it was revoked from another device, or it expired."
        if "ended" in request.query_params
        else None
    )
    return sessions.sign_in_page(request, message=message)


@router.post("/signin")
async def sign_in(request: Request, sessions: Sessions, fields: PostedForm) -> Response:
    sessions.check_sign_in(request, fields)
    name = " ".join(fields.get("name", "").split())
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        error = f"Please enter a name of 1 to {MAX_NAME_LENGTH} printable characters."
        return sessions.sign_in_page(request, 400, error=error, name=name[:MAX_NAME_LENGTH])
    try:
        await login(request, name)
    except SessionLimitExceeded:
        error = "You are signed in on too many devices: sign out on one of them first."
        return sessions.sign_in_page(request, 409, error=error, name=name)
    response = redirect("/industry")
    response.delete_cookie(sessions.nonce_cookie, path="/", secure=sessions.nonce_secure, httponly=True)
    return response


@router.post("/signout")
async def sign_out(request: Request, _: CheckedForm) -> Response:
    await logout(request)
    return redirect("/")


@router.get("/industry", response_class=HTMLResponse)
async def industry(current: SignedIn) -> Response:
    session, viewer = current
    chosen = session.data.get(INDUSTRY_KEY) if session.kind == DEMO_KIND else None
    return HTMLResponse(pages.industry_page(viewer, chosen if isinstance(chosen, str) else None))


@router.post("/industry")
async def pick_industry(request: Request, sessions: Sessions, current: SignedIn, fields: CheckedForm) -> Response:
    signed_in, viewer = current
    chosen = fields.get("industry", "")
    if chosen not in INDUSTRIES:
        return HTMLResponse(pages.industry_page(viewer, None, error="Please pick one of these."), status_code=400)
    client = client_info(request.scope, trusted_proxy_hops=0)
    # It carries the sign-in of the session it replaces: picking again never extends the absolute timeout.
    demo = await sessions.manager.create_demo_session(
        industry=chosen, user_id=viewer.user_id, client=client, replaces=signed_in
    )
    await sessions.manager.add_message(token_of(demo), "assistant", sessions.clip(welcome(chosen).text))
    await sessions.manager.set_progress(token_of(demo), step=1, total=len(STEPS), status="in_progress")
    # The demo session replaces the one this browser had (ended), so the device list stays one row per browser.
    await switch_to(request, demo)
    return redirect("/chat")


@router.get("/chat", response_class=HTMLResponse)
async def chat(sessions: Sessions, current: SignedIn) -> Response:
    return await render_chat(sessions, current)


async def render_chat(sessions: DemoSessions, current: tuple[Session, Viewer], *, error: str | None = None) -> Response:
    session, viewer = current
    if session.kind != DEMO_KIND:
        return redirect("/industry")
    status = await demo_of(sessions, session)
    messages = await sessions.manager.get_messages(token_of(session))
    questions = [message.content for message in messages if message.role == "user"]
    latest = (
        respond(questions[-1], history=questions[:-1], industry=status.industry)
        if questions
        else welcome(status.industry)
    )
    max_length = sessions.manager.settings.max_message_length
    page = pages.chat_page(viewer, status, messages, latest.suggestions, max_length=max_length, error=error)
    return HTMLResponse(page, status_code=400 if error else 200)


@router.post("/chat")
async def ask(sessions: Sessions, current: SignedIn, fields: CheckedForm) -> Response:
    session, _ = current
    if session.kind != DEMO_KIND:
        return redirect("/industry")
    token = token_of(session)
    question = fields.get("message", "").strip()
    history = [m.content for m in await sessions.manager.get_messages(token) if m.role == "user"]
    try:
        await sessions.manager.add_message(token, "user", question)
    except SessionDataError as exc:
        return await render_chat(sessions, current, error=f"That message cannot be sent: {exc}.")
    except SessionNotFound:
        raise SignedOut from None
    status = await demo_of(sessions, session)
    reply = respond(question, history=history, industry=status.industry)
    await sessions.manager.add_message(token, "assistant", sessions.clip(reply.text))
    await advance(sessions, session, status, 3 if history else 2)
    return redirect("/chat#message")


@router.get("/progress", response_class=HTMLResponse)
async def progress(sessions: Sessions, current: SignedIn) -> Response:
    session, viewer = current
    if session.kind != DEMO_KIND:
        return redirect("/industry")
    return HTMLResponse(pages.progress_page(viewer, await demo_of(sessions, session), STEPS))


@router.post("/progress/finish")
async def finish(sessions: Sessions, current: SignedIn, _: CheckedForm) -> Response:
    session, _viewer = current
    if session.kind == DEMO_KIND:
        status = await demo_of(sessions, session)
        if status.step == len(STEPS) - 1:
            total = len(STEPS)
            await sessions.manager.set_progress(token_of(session), step=total, total=total, status="completed")
    return redirect("/progress")


@router.get("/sessions", response_class=HTMLResponse)
async def my_sessions(request: Request, sessions: Sessions, current: SignedIn) -> Response:
    session, viewer = current
    if session.kind == DEMO_KIND:
        await advance(sessions, session, await demo_of(sessions, session), 4)
    listed = await sessions.manager.list_user_sessions(viewer.user_id)
    message = request.query_params.get("done")
    return HTMLResponse(pages.sessions_page(viewer, listed, session.id, message=message))


@router.post("/sessions/revoke")
async def revoke(sessions: Sessions, current: SignedIn, fields: CheckedForm) -> Response:
    session, viewer = current
    target = fields.get("session_id", "")
    if target == session.id:
        return redirect("/sessions?done=To+end+this+device%27s+session%2C+sign+out.")
    owned = {listed.id for listed in await sessions.manager.list_user_sessions(viewer.user_id)}
    revoked = target in owned and await sessions.manager.revoke(target)
    return redirect("/sessions?done=" + ("Session+revoked." if revoked else "That+session+had+already+ended."))


@router.post("/sessions/revoke-others")
async def revoke_others(sessions: Sessions, current: SignedIn, _: CheckedForm) -> Response:
    session, viewer = current
    count = await sessions.manager.revoke_user_sessions(viewer.user_id, except_session_id=session.id)
    return redirect(f"/sessions?done=Signed+out+{count}+other+session{'s' if count != 1 else ''}.")


@router.get("/operator", response_class=HTMLResponse)
async def operator(request: Request, sessions: Sessions) -> Response:
    current = sessions.current(request)
    stats, health = await operator_numbers(request, sessions)
    history: MetricsHistory = request.app.state.history
    charts = pages.operator_charts(history.series(), history.window)
    viewer = current[1] if current else None
    return HTMLResponse(pages.operator_page(viewer, stats, health, charts, OPERATOR_REFRESH_SECONDS))


@router.get("/operator.json")
async def operator_json(request: Request, sessions: Sessions) -> Response:
    stats, health = await operator_numbers(request, sessions)
    return JSONResponse({"stats": stats, "health": health})


@router.get("/healthz")
async def healthz(sessions: Sessions) -> Response:
    health = await sessions.manager.health()
    return JSONResponse(health, status_code=200 if health.get("status") == "ok" else 503)


async def operator_numbers(request: Request, sessions: DemoSessions) -> tuple[dict[str, Any], dict[str, Any]]:
    health = await sessions.manager.health()
    settings = sessions.manager.settings
    try:
        stats = await sessions.manager.stats()
    except BackendUnavailable:
        stats = {"backend": sessions.manager.backend.name, "active_sessions": "unavailable"}
    stats |= {
        "demo_ttl": settings.demo_ttl,
        "max_messages": settings.max_messages,
        "max_message_length": settings.max_message_length,
        "uptime_seconds": round(time.monotonic() - request.app.state.started),
    }
    return stats, health


# -- the application ----------------------------------------------------------------------------------------------


async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    history: MetricsHistory = request.app.state.history
    history.count_request(response.status_code)
    return response


async def signed_out(request: Request, _: Exception) -> Response:
    """To the sign-in page; the middleware clears the cookie of a session that has ended."""
    return redirect("/?ended=1" if demo_sessions(request).sent_a_session_cookie(request) else "/")


async def forbidden(_: Request, exc: Exception) -> Response:
    return HTMLResponse(pages.layout("Refused", pages.notice(str(exc), error=True)), status_code=403)


async def unavailable(_: Request, exc: Exception) -> Response:
    body = pages.notice(f"The session store is unavailable ({exc}). Try again in a moment.", error=True)
    return HTMLResponse(pages.layout("Unavailable", body), status_code=503)


def create_app(manager: SessionManager | None = None, *, sample_every: float = 5.0) -> FastAPI:
    """The demo app on `manager` (default: `SessionManager.from_settings()`), which it opens and closes. Its metrics
    are served at /metrics and sampled every `sample_every` seconds for the operator page's charts."""
    sessions = DemoSessions(manager if manager is not None else SessionManager.from_settings())
    metrics = SessionMetrics(sessions.manager, cache_seconds=min(5.0, sample_every))
    history = MetricsHistory(metrics, every=sample_every)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with sessions.manager, history.running():
            yield

    def with_sessions(app: ASGIApp) -> ASGIApp:
        excluded = ["/healthz", "/operator.json", "/metrics"]
        return SessionMiddleware(app, manager=sessions.manager, exclude_paths=excluded)

    app = FastAPI(
        title="sessionhub demo",
        lifespan=lifespan,
        middleware=[Middleware(with_sessions)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Starlette builds a trailing-slash redirect from the Host header (GET /chat/ with Host: evil.example would
        # send the browser to http://evil.example/chat): the paths are exact instead.
        redirect_slashes=False,
    )
    app.state.sessions = sessions
    app.state.history = history
    app.state.started = time.monotonic()
    app.middleware("http")(security_headers)
    app.middleware("http")(count_requests)
    app.add_exception_handler(SignedOut, signed_out)
    # A logout (or revocation) from another tab can end the session after this request loaded it.
    app.add_exception_handler(SessionNotFound, signed_out)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(BackendUnavailable, unavailable)
    app.include_router(router)
    # Open in the demo, as the operator page is; a real deployment serves it to its Prometheus only.
    app.router.routes.append(Route("/metrics", metrics.asgi_app(), include_in_schema=False))
    return app
