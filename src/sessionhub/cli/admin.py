"""Looking after a running store: stats, health, a user's sessions (list, show, revoke) and security log (events)."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from sessionhub import events
from sessionhub.cli._common import (
    EXIT_NO,
    EXIT_USAGE,
    backend_for,
    command,
    fail,
    manager_for,
    print_json,
    session_summary,
    settings,
    short_when,
    stdout,
    when,
)
from sessionhub.display import stat_text
from sessionhub.manager import SessionManager
from sessionhub.tokens import is_session_id

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
REVOKE_PAGE = 500
"""Sessions `sessions revoke --all` reads at a time."""
sessions_app = typer.Typer(help="Sessions: list, show, revoke, a user's security events.", no_args_is_help=True)


@command
async def stats(as_json: JsonOption = False) -> None:
    """Live sessions and the limits in force."""
    async with manager_for(settings()) as manager:
        result = await manager.stats()
    if as_json:
        print_json(result)
        return
    table = Table(title="sessionhub", show_header=False)
    for name, value in result.items():
        table.add_row(name.replace("_", " "), stat_text(name, value))
    stdout.print(table)


@command
async def health(as_json: JsonOption = False) -> None:
    """Whether the session store answers (exit code 1 when it does not)."""
    backend = backend_for(settings())
    try:
        result = await backend.health()
    finally:
        await backend.close()
    if as_json:
        print_json(result)
    else:
        latency = f" in {result['latency_ms']} ms" if "latency_ms" in result else ""
        colour = "green" if result["status"] == "ok" else "red"
        stdout.print(f"[{colour}]{result['status']}[/]: {result['backend']}{latency}", highlight=False)
    if result["status"] != "ok":
        raise typer.Exit(EXIT_NO)


@sessions_app.command("list")
@command
async def list_sessions(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's sessions.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only sessions of this kind (user, demo, ...).")] = None,
    idle_over: Annotated[
        float | None, typer.Option("--idle-over", min=0, help="Only sessions idle at least this many seconds.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many on a page.")] = 50,
    after: Annotated[str | None, typer.Option("--after", help="The page after this session id.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Live sessions, a page at a time by id (every session, or a user's), without tokens; the next page is
    `--after` the id printed at the end. JSON: {"sessions": [...], "next_after": id or null}."""
    if after is not None and not is_session_id(after):
        fail("--after takes a session id: 34 lowercase hex characters", EXIT_USAGE)
    async with manager_for(settings()) as manager:
        sessions, next_after = await manager.browse_sessions(
            after=after, limit=limit, kind=kind, user_id=user, idle_for=idle_over
        )
    if as_json:
        print_json({"sessions": [session_summary(session) for session in sessions], "next_after": next_after})
        return
    whose = f"sessions of {user}" if user is not None else "sessions"
    table = Table(title=f"{whose} ({len(sessions)}{'+' if next_after else ''}), times in UTC")
    table.add_column("id", no_wrap=True, min_width=34)
    for column in ("user", "kind", "signed in", "last active", "expires", "ip", "user agent"):
        table.add_column(column, overflow="fold")
    for session in sessions:
        signed_in = session.authenticated_at
        table.add_row(
            session.id, session.user_id or "-", session.kind, short_when(signed_in) if signed_in is not None else "-",
            short_when(session.last_active_at), short_when(session.expires_at),
            session.client.ip or "-", session.client.user_agent or "-",
        )  # fmt: skip
    stdout.print(table)
    if next_after is not None:
        stdout.print(f"more: --after {next_after}", highlight=False)


@sessions_app.command("show")
@command
async def show_session(
    session_id: Annotated[str, typer.Argument(metavar="ID", help="The session id (34 hex characters).")],
    with_data: Annotated[bool, typer.Option("--data", help="Include the data values, not only their keys.")] = False,
    as_json: JsonOption = False,
) -> None:
    """One session, read without extending it (an admin look does not keep a session alive)."""
    if not is_session_id(session_id):
        fail("not a session id: expected 34 lowercase hex characters", EXIT_USAGE)
    async with manager_for(settings()) as manager:
        session = await manager.peek(session_id)
    if session is None:
        fail(f"no live session {session_id}")
    summary = session_summary(session)
    if with_data:
        # As stored (typed values tagged): JSON whichever codec the sessions use.
        summary["data"] = {key: manager.codec.jsonable(value) for key, value in session.data.items()}
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"session {session_id}", show_header=False)
    for name, value in summary.items():
        # Data as JSON (what the application stored), never a Python repr.
        text = orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)
        table.add_row(name.replace("_", " "), "-" if value is None else text)
    stdout.print(table)


@sessions_app.command("revoke")
@command
async def revoke_sessions(
    session_id: Annotated[str | None, typer.Option("--id", help="End this session.")] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="End every session of this user.")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="End every session of every user (needs --yes).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm --all.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the user's security log.")] = None,
    as_json: JsonOption = False,
) -> None:
    """End one session (--id), all of a user's (--user) or every session (--all --yes), logged with actor "admin"
    in each user's security log. Exit code 1 when --id names no live session."""
    if [session_id is not None, user is not None, everyone].count(True) != 1:
        fail("give exactly one of --id, --user and --all", EXIT_USAGE)
    if everyone and not yes:
        fail("--all signs every user out everywhere: add --yes to confirm", EXIT_USAGE)
    if session_id is not None and not is_session_id(session_id):
        fail("not a session id: expected 34 lowercase hex characters", EXIT_USAGE)
    async with manager_for(settings()) as manager:
        if session_id is not None:
            revoked = int(await manager.revoke(session_id, actor=events.ADMIN, reason=reason or "revoked"))
        elif user is not None:
            revoked = await manager.revoke_user_sessions(user, actor=events.ADMIN, reason=reason)
        else:
            revoked = await _revoke_everyone(manager, reason or "revoked_all")
    if as_json:
        print_json({"revoked": revoked})
    else:
        stdout.print(f"revoked {revoked} session{'s' if revoked != 1 else ''}")
    if session_id is not None and not revoked:
        raise typer.Exit(EXIT_NO)


async def _revoke_everyone(manager: SessionManager, reason: str) -> int:
    """Every live session, page by page, each revoked like `--id` (one logged event per session). Changing
    key_prefix ends them all at once instead, without the log (docs/security.md)."""
    revoked = 0
    after: str | None = None
    while True:
        page, after = await manager.browse_sessions(after=after, limit=REVOKE_PAGE)
        for session in page:
            revoked += await manager.revoke(session.id, actor=events.ADMIN, reason=reason)
        if after is None:
            return revoked


@sessions_app.command("events")
@command
async def security_events(
    user: Annotated[str, typer.Option("--user", "-u", help="The user id.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """A user's security log, newest first: sign-ins, rotations, revocations (reason, actor), evictions, limits,
    risk flags and reused tokens (docs/security.md)."""
    async with manager_for(settings()) as manager:
        log = await manager.security_events(user, limit=limit)
    rows = [
        {
            "at": when(event.at),
            "type": event.type,
            "session_id": event.session_id,
            "related_session_id": event.related_session_id,
            "reason": event.reason,
            "actor": event.actor,
            "risk": event.risk,
            "ip": event.ip,
            "device": event.device,
        }
        for event in log
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"security events of {user} ({len(rows)}), times in UTC")
    for column in ("at", "type", "session", "reason", "actor", "ip", "device"):
        table.add_column(column, overflow="fold")
    for event in log:
        reason = " ".join(part for part in (event.risk, event.reason) if part) or "-"
        table.add_row(
            short_when(event.at), event.type, event.session_id or "-", reason, event.actor or "-",
            event.ip or "-", event.device or "-",
        )  # fmt: skip
    stdout.print(table)
