"""The `sessionhub` command: administer a running store, migrate legacy ones, run the demo app (typer + rich).

Each group of commands lives in its own module and is registered below.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sessionhub.cli import admin, demo, migrate
from sessionhub.cli._common import CliState

app = typer.Typer(
    name="sessionhub",
    help="Administer sessionhub's session store, migrate legacy session stores into it, and run the demo app.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def configure(
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="sessionhub's Redis; default: REDIS_URL from the environment.")
    ] = None,
    key_prefix: Annotated[str | None, typer.Option("--key-prefix", help="Default: SESSIONHUB_KEY_PREFIX.")] = None,
    memory: Annotated[
        bool, typer.Option("--memory", help="Without a Redis URL, run on an empty memory store instead of refusing.")
    ] = False,
) -> None:
    """Settings come from the environment (REDIS_URL, SESSIONHUB_*), as for the application."""
    CliState.redis_url = redis_url
    CliState.key_prefix = key_prefix
    CliState.memory = memory


app.command()(admin.stats)
app.command()(admin.health)
app.add_typer(admin.sessions_app, name="sessions")
app.command()(migrate.migrate)
app.command()(demo.demo)


def main() -> None:
    app()
