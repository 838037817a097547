"""What every command shares: settings, opening the store, printing for people or for scripts, and exit codes.

Exit codes: 0 success; 1 the answer is "no" (not found, unhealthy, invalid records, a failed verification);
2 bad usage or settings (a bad Redis URL included); 3 a store cannot be reached, or none is configured; 130
interrupted.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, NoReturn, ParamSpec

import orjson
import typer
from redis.exceptions import RedisError
from rich.console import Console

from sessionhub.backends import SessionBackend
from sessionhub.errors import BackendUnavailable, ConfigurationError, SessionDataError, SessionHubError
from sessionhub.logs import configure_logging
from sessionhub.manager import SessionManager
from sessionhub.model import Session
from sessionhub.settings import Settings
from sessionhub.stack import build_backend

EXIT_NO = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130

stdout = Console()
stderr = Console(stderr=True)
P = ParamSpec("P")


class CliState:
    """Options given before the command (`sessionhub --redis-url ... stats`)."""

    redis_url: str | None = None
    key_prefix: str | None = None
    memory: bool = False
    """`--memory`: run on this process's empty memory store (to try the commands), instead of refusing to."""


def settings() -> Settings:
    """Settings from the environment (REDIS_URL, ...), overridden by the global options that were given; this
    process logs to stderr as their `log_format` says."""
    overrides = {"redis_url": CliState.redis_url, "key_prefix": CliState.key_prefix}
    config = Settings(**{name: value for name, value in overrides.items() if value is not None})
    configure_logging(config.log_format)
    return config


def backend_for(config: Settings) -> SessionBackend:
    """The store the settings name (`sessionhub.stack`), with no outage fallback: an admin tool must not report on
    an empty memory store because Redis was down. Without a Redis URL (or with TESTING) there is no store to look
    after: the command refuses (exit 3), unless `--memory` asks for this process's empty one."""
    if config.uses_memory:
        if not CliState.memory:
            fail(
                "no session store: set REDIS_URL (or --redis-url); --memory runs on this process's empty memory store",
                EXIT_UNAVAILABLE,
            )
        stderr.print("[yellow]note:[/] --memory: using this process's empty memory store")
    return build_backend(config, outage_fallback=False)


def manager_for(config: Settings) -> SessionManager:
    return SessionManager(backend_for(config), config)


def fail(message: str, code: int = EXIT_NO) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def command(function: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async command, turning sessionhub's errors into a message on stderr and an exit code."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            asyncio.run(function(*args, **kwargs))
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except ConfigurationError as exc:
            fail(str(exc), EXIT_USAGE)
        except BackendUnavailable as exc:
            fail(f"the session store is unavailable: {exc}", EXIT_UNAVAILABLE)
        except RedisError as exc:
            fail(f"redis failed: {type(exc).__name__}: {exc}", EXIT_UNAVAILABLE)
        except (SessionDataError, SessionHubError) as exc:
            fail(str(exc))

    return run


def print_json(value: Any) -> None:
    # Plain print: rich would wrap long lines and highlight, and scripts need the bytes as they are.
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def short_when(moment: datetime) -> str:
    """For table cells: UTC to the second, narrow enough not to wrap."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def session_summary(session: Session) -> dict[str, Any]:
    """What an admin sees of a session: never a token, and data only as key names (values may be personal)."""
    return {
        "id": session.id,
        "user_id": session.user_id,
        "kind": session.kind,
        "created_at": when(session.created_at),
        "authenticated_at": when(session.authenticated_at) if session.authenticated_at is not None else None,
        "last_active_at": when(session.last_active_at),
        "expires_at": when(session.expires_at),
        "absolute_expires_at": when(session.absolute_expires_at),
        "ip": session.client.ip,
        "user_agent": session.client.user_agent,
        "data_keys": sorted(session.data),
    }
