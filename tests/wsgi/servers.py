"""Real WSGI servers for the framework tests: waitress with threads, in this process, on a free loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from waitress.server import create_server

from tests.support.redis_servers import HOST, free_port

THREADS = 8
START_TIMEOUT = 10.0


@contextmanager
def waitress_server(app: Any) -> Iterator[str]:
    """Serve the WSGI `app` with waitress (8 threads) until the block ends; yields its base URL."""
    port = free_port()
    server = create_server(app, host=HOST, port=port, threads=THREADS, ident=None, clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, name=f"waitress-{port}", daemon=True)
    thread.start()
    url = f"http://{HOST}:{port}"
    try:
        with httpx.Client(timeout=START_TIMEOUT) as probe:
            probe.get(url)  # the socket listens from create_server on: the first request is answered
        yield url
    finally:
        server.close()
        thread.join(START_TIMEOUT)
