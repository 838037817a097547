"""`sessionhub migrate`: move a legacy store into sessionhub, with a progress bar and a summary table."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sessionhub.backends.redis import RedisBackend
from sessionhub.cli._common import (
    EXIT_NO,
    EXIT_USAGE,
    command,
    fail,
    manager_for,
    print_json,
    settings,
    stderr,
    stdout,
)
from sessionhub.errors import ConfigurationError
from sessionhub.migrate import (
    DEFAULT_BATCH_SIZE,
    DeleteReport,
    MigrationReport,
    MigrationSource,
    Migrator,
    RedisCheckpoint,
    RedisImportLedger,
    VerifyReport,
    open_reader,
)
from sessionhub.migrate.migrator import Progress as ProgressCallback
from sessionhub.migrate.migrator import source_identity, source_key
from sessionhub.migrate.sources import source_named

SHOWN_INVALID = 10
"""Invalid records listed by name in the summary (all of them are in --json)."""


class SourceKind(StrEnum):
    seeds = "seeds"
    starsessions = "starsessions"
    flask_session = "flask-session"
    django_db = "django-db"
    django_cache = "django-cache"
    json = "json"


class Serialization(StrEnum):
    msgpack = "msgpack"
    json = "json"


def build_source(
    kind: SourceKind,
    prefix: str | None,
    user_key: str | None,
    serialization: Serialization,
    fields: list[str],
    session_kind: str,
    secret_key_env: str | None = None,
) -> MigrationSource:
    try:
        return source_named(
            kind.value,
            prefix=prefix,
            user_key=user_key,
            serialization=serialization.value,
            fields=fields,
            kind=session_kind,
            secret_key_env=secret_key_env,
        )
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


@command
async def migrate(
    source_kind: Annotated[
        SourceKind,
        typer.Argument(metavar="SOURCE", help="seeds, starsessions, flask-session, django-db, django-cache or json."),
    ],
    source_url: Annotated[
        str | None,
        typer.Option(
            "--source-url",
            help="The legacy Redis (another server or database; default: REDIS_URL), or for django-db the "
            "database: sqlite:///path or postgresql://user@host/name.",
        ),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Key prefix of the legacy sessions (default: the library's).")
    ] = None,
    user_key: Annotated[
        str | None,
        typer.Option(
            "--user-key",
            help="Session data key holding the user id (starsessions, flask-session; Django: _auth_user_id).",
        ),
    ] = None,
    serialization: Annotated[
        Serialization, typer.Option(help="Flask-Session's SESSION_SERIALIZATION_FORMAT.")
    ] = Serialization.msgpack,
    secret_key_env: Annotated[
        str | None,
        typer.Option(
            "--secret-key-env",
            help="The environment variable holding the legacy app's SECRET_KEY (an option's value would show in the "
            "process list): flask-session with SESSION_USE_SIGNER, and django-db, whose data is signed.",
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="json source: FIELD=NAME[,NAME...], e.g. user_id=uid (repeatable)."),
    ] = None,
    kind: Annotated[str, typer.Option(help="Kind of the migrated sessions (seeds: user and demo).")] = "user",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would happen; write nothing.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Keys per SCAN batch and pipeline.")
    ] = DEFAULT_BATCH_SIZE,
    max_batches: Annotated[int | None, typer.Option(min=1, help="Stop after this many batches (resume later).")] = None,
    restart: Annotated[bool, typer.Option(help="Discard the checkpoint of an unfinished run and start over.")] = False,
    verify: Annotated[bool, typer.Option(help="Verify after migrating: counts, and a sample compared.")] = True,
    sample: Annotated[int, typer.Option(min=0, help="Sessions compared field by field by the verification.")] = 100,
    delete_source: Annotated[
        bool, typer.Option("--delete-source", help="After a verification that passed, delete the migrated legacy keys.")
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep re-syncing, a pass every --interval seconds, until interrupted (Ctrl-C or SIGTERM): for a "
            "cut-over while the legacy application still serves.",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.0, help="--follow: seconds between the end of a pass and the next.")
    ] = 5.0,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Exit 0 when the legacy store holds no session under the prefix.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Move the sessions of a legacy store into sessionhub; nobody is signed out (docs/migration.md).

    Run again, it brings over what changed in the legacy store since (a re-sync), and ends the sessions whose
    legacy record was deleted; interrupted, it resumes where it stopped. Exit code 1 when records were invalid (they
    are listed and left in place), the verification failed, or no key was found under the prefix (unless
    --allow-empty).
    """
    if dry_run and delete_source:
        fail("--delete-source cannot go with --dry-run", EXIT_USAGE)
    if follow and (dry_run or delete_source or max_batches is not None):
        fail("--follow keeps migrating: it does not go with --dry-run, --delete-source or --max-batches", EXIT_USAGE)
    if delete_source and not verify:
        fail("--delete-source needs the verification (drop --no-verify)", EXIT_USAGE)
    source = build_source(source_kind, prefix, user_key, serialization, field or [], kind, secret_key_env)
    config = settings()
    url = source_url or (config.redis_url if source.store == "redis" else None)
    if url is None:
        fail(f"no legacy {source.store} store: give --source-url", EXIT_USAGE)
    if config.uses_memory:  # even with --memory: a migration into a process's memory would vanish with it
        fail("migrating needs sessionhub's Redis: set REDIS_URL (and not TESTING)", EXIT_USAGE)
    manager = manager_for(config)
    assert isinstance(manager.backend, RedisBackend)
    try:
        legacy = open_reader(source.store, url, timeout=30.0)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    result: dict[str, Any] = {}
    try:
        async with manager:
            client = manager.backend.client
            state_key = f"{config.key_prefix}:{{migration}}:{source.name}"
            checkpoint = RedisCheckpoint(client, state_key)
            ledger = RedisImportLedger(client, f"{state_key}:{source_key(source_identity(source, legacy))}:imported")
            if restart:
                await checkpoint.clear()
            migrator = Migrator(source, legacy, manager, checkpoint=checkpoint, ledger=ledger, batch_size=batch_size)
            # For a legacy Redis, every key of the database, whatever its prefix: an upper bound, for the ETA.
            estimate = await legacy.estimate()
            with _progress(as_json or follow, estimate) as bar:
                if follow:
                    report = await _follow(migrator, interval, as_json)
                else:
                    report = await migrator.run(
                        dry_run=dry_run,
                        max_batches=max_batches,
                        progress=bar("migrating" if not dry_run else "dry run"),
                    )
                result["migration"] = report.to_dict()
                verified = None
                if verify and not dry_run and report.completed:
                    verified = await migrator.verify(sample_size=sample, progress=bar("verifying"))
                    result["verify"] = verified.to_dict()
                deleted = None
                if delete_source and verified is not None and verified.ok:
                    deleted = await migrator.delete_source(verified, progress=bar("deleting migrated legacy keys"))
                    result["delete_source"] = deleted.to_dict()
    finally:
        await legacy.aclose()
    if as_json:
        print_json(result)
    else:
        _print_summary(report, verified, deleted, delete_source)
    if report.scanned == 0 and not report.resumed and not allow_empty:
        prefixes = ", ".join(space.prefix for space in source.keyspaces)
        stderr.print(
            f"[yellow]warning:[/] no key under {prefixes} in the legacy store: a mistyped --prefix or --source-url? "
            "(--allow-empty accepts an empty store)",
            highlight=False,
        )
        raise typer.Exit(EXIT_NO)
    if report.invalid or (verified is not None and not verified.ok):
        raise typer.Exit(EXIT_NO)


async def _follow(migrator: Migrator, interval: float, quiet: bool) -> MigrationReport:
    """Passes one after another until SIGINT or SIGTERM, a line per pass; the pass in hand stops after its current
    batch (the checkpoint resumes it next time). Returns the last pass's report."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stopping.set)
    try:
        passes = 0
        while True:
            report = await migrator.run(stop=stopping.is_set)
            passes += 1
            if not quiet:
                stderr.print(_pass_line(passes, report), highlight=False)
            if stopping.is_set():
                return report
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)
            if stopping.is_set():
                return report
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)


def _pass_line(number: int, report: MigrationReport) -> str:
    state = "" if report.completed else " (stopped: resumes next run)"
    return (
        f"pass {number}: {report.scanned:,} keys in {report.elapsed:.1f} s: {report.migrated:,} new, "
        f"{report.updated:,} updated, {report.ended_in_source:,} ended, {len(report.conflicts):,} conflicts, "
        f"{len(report.invalid):,} invalid{state}"
    )


class _progress:
    """A rich progress bar on stderr (stdout stays clean for --json), one task per pass, out of `estimate` keys (the
    legacy database's DBSIZE: every key, whatever its prefix), with the time left at the pass's rate."""

    def __init__(self, quiet: bool, estimate: int | None) -> None:
        self._estimate = estimate or None
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn(
                "{task.completed:,} of ~{task.total:,.0f} keys" if self._estimate else "{task.completed:,} keys"
            ),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=stderr,
            disable=quiet,
            transient=False,
        )

    def __enter__(self) -> _progress:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def __call__(self, description: str) -> ProgressCallback:
        task = self._progress.add_task(description, total=self._estimate, rate="")

        def advance(scanned: int) -> None:
            elapsed = self._progress.tasks[task].elapsed or 0
            rate = f"{scanned / elapsed:,.0f}/s" if elapsed > 0 else ""
            # Past the estimate (keys written meanwhile), the total follows: the bar never shows more than 100%.
            total = max(scanned, self._estimate) if self._estimate else None
            self._progress.update(task, completed=scanned, total=total, rate=rate)

        return advance


def _print_summary(
    report: MigrationReport, verified: VerifyReport | None, deleted: DeleteReport | None, asked_to_delete: bool
) -> None:
    title = "dry run (nothing written)" if report.dry_run else "migration"
    table = Table(title=f"{title}: {report.source}", show_header=False, title_justify="left")
    table.add_row("keys read", f"{report.scanned:,}")
    table.add_row("would migrate" if report.dry_run else "migrated", f"{report.migrated:,}")
    for kind, count in sorted(report.kinds.items()):
        table.add_row(f"  kind {kind}", f"{count:,}")
    table.add_row("would update" if report.dry_run else "updated (changed since imported)", f"{report.updated:,}")
    table.add_row("already migrated", f"{report.already_migrated:,}")
    table.add_row(
        "conflicts (sessionhub's copy kept)", f"[yellow]{len(report.conflicts):,}[/]" if report.conflicts else "0"
    )
    if not report.dry_run:
        table.add_row("ended (deleted in the legacy store)", f"{report.ended_in_source:,}")
    table.add_row("expired (not moved)", f"{report.expired:,}")
    table.add_row("invalid (left in place)", f"[red]{len(report.invalid):,}[/]" if report.invalid else "0")
    table.add_row("batches", f"{report.batches:,}" + (" (resumed)" if report.resumed else ""))
    table.add_row("time", f"{report.elapsed:.2f} s, {report.rate:,.0f} keys/s")
    stdout.print(table)
    if not report.completed:
        stdout.print("[yellow]stopped before the end: run the same command again to resume[/]")
    for entry in report.conflicts[:SHOWN_INVALID]:
        stdout.print(f"  conflict {entry.ref}: {entry.reason}", highlight=False)
    if len(report.conflicts) > SHOWN_INVALID:
        stdout.print(f"  ... and {len(report.conflicts) - SHOWN_INVALID:,} more conflicts (--json lists them all)")
    if report.invalid:
        reasons = Table(title="invalid records", title_justify="left")
        reasons.add_column("reason")
        reasons.add_column("records", justify="right")
        for reason, count in Counter(entry.reason for entry in report.invalid).most_common():
            reasons.add_row(reason, f"{count:,}")
        stdout.print(reasons)
        for entry in report.invalid[:SHOWN_INVALID]:
            stdout.print(f"  {entry.ref} ({entry.hint}): {entry.reason}", highlight=False)
        if len(report.invalid) > SHOWN_INVALID:
            stdout.print(f"  ... and {len(report.invalid) - SHOWN_INVALID:,} more (--json lists them all)")
    if verified is not None:
        check = Table(title="verification", show_header=False, title_justify="left")
        check.add_row("legacy sessions", f"{verified.source_sessions:,}")
        check.add_row("in sessionhub", f"{verified.migrated:,}")
        check.add_row(
            "  waiting / adopted / ended", f"{verified.pending:,} / {verified.adopted:,} / {verified.ended:,}"
        )
        check.add_row("missing", f"[red]{len(verified.missing):,}[/]" if verified.missing else "0")
        check.add_row("changed since imported", f"[red]{len(verified.stale):,}[/]" if verified.stale else "0")
        check.add_row("conflicts (sessionhub's copy kept)", f"{verified.conflicts:,}")
        check.add_row("sample compared", f"{verified.sampled:,}, {len(verified.mismatched):,} different")
        check.add_row("result", "[green]passed[/]" if verified.ok else "[red]failed[/]")
        stdout.print(check)
        for entry in verified.mismatched[:SHOWN_INVALID]:
            stdout.print(f"  {entry.ref}: {entry.reason}", highlight=False)
        for ref in verified.missing[:SHOWN_INVALID]:
            stdout.print(f"  {ref}: missing (run the migration again)", highlight=False)
        for ref in verified.stale[:SHOWN_INVALID]:
            stdout.print(
                f"  {ref}: changed in the legacy store since its import (run the migration again)", highlight=False
            )
    if deleted is not None:
        cleanup = Table(title="legacy store clean-up", show_header=False, title_justify="left")
        cleanup.add_row("deleted", f"{deleted.deleted:,}")
        cleanup.add_row(
            "kept: invalid / not migrated / changed meanwhile",
            f"{deleted.kept_invalid:,} / {deleted.kept_not_migrated:,} / {deleted.kept_changed:,}",
        )
        stdout.print(cleanup)
        for entry in deleted.kept[:SHOWN_INVALID]:
            stdout.print(f"  kept {entry.ref}: {entry.reason}", highlight=False)
    elif asked_to_delete:
        stdout.print("[red]the legacy store was not touched: the verification did not pass[/]")
