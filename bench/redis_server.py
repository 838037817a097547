"""A throwaway redis-server on a free loopback port, without persistence, owned by the benchmark."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """Starts ``redis-server`` on 127.0.0.1 in a temporary directory; ``stop()`` ends it and cleans up.

    Persistence is off (no RDB snapshots, no AOF) so that a million benchmark sessions never touch the disk.
    """

    def __init__(self, executable: str = "redis-server") -> None:
        found = shutil.which(executable)
        if found is None:
            raise RuntimeError(f"{executable!r} not found on PATH; the benchmark needs a local redis-server")
        self.executable = found
        self.host = "127.0.0.1"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        # The port may be taken between probing and binding, so a failed start is retried on a new port.
        last_error = ""
        for _attempt in range(5):
            self._workdir = Path(tempfile.mkdtemp(prefix="sessionhub-bench-redis-"))
            self.port = _free_loopback_port()
            self._process = subprocess.Popen(
                [
                    self.executable,
                    "--bind", self.host,
                    "--port", str(self.port),
                    "--save", "",
                    "--appendonly", "no",
                    "--protected-mode", "yes",
                    "--dir", str(self._workdir),
                    "--logfile", str(self._workdir / "redis.log"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._wait_until_ready():
                return
            last_error = self._log_tail()
            self.stop()
        raise RuntimeError(f"redis-server did not start: {last_error}")

    def _wait_until_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.ConnectionError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def _log_tail(self) -> str:
        if self._workdir is None:
            return ""
        log = self._workdir / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "no log written"

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
