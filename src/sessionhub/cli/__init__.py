"""The `sessionhub` command (typer + rich). Each group of commands lives in its own module and is registered below."""

from __future__ import annotations

import typer

from sessionhub.cli import demo

app = typer.Typer(name="sessionhub", no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def configure() -> None:
    """sessionhub's command line. Settings come from the environment (REDIS_URL, SESSIONHUB_*)."""


app.command()(demo.demo)


def main() -> None:
    app()
