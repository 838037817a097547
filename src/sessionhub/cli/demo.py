"""`sessionhub demo`: serve the demo application with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the demo app: sign in, chat with an Egypt travel assistant, manage your sessions, watch the store.

    Sessions live in memory, or in Redis when REDIS_URL (or --redis-url) is set.
    """
    import uvicorn

    from sessionhub.cli._common import settings
    from sessionhub.demo.app import create_app
    from sessionhub.logs import log_config
    from sessionhub.manager import SessionManager

    config = settings()
    manager = SessionManager.from_settings(config)
    store = "memory" if manager.backend.name == "memory" else "Redis"
    typer.echo(f"sessionhub demo on http://{host}:{port}/ (sessions in {store})")
    uvicorn.run(
        create_app(manager), host=host, port=port, log_config=log_config(config.log_format), proxy_headers=False
    )
