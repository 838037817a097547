"""A real PostgreSQL server from Debian's packages, on a free loopback port, for the tests that read Django's database
sessions from it. Its data directory is a new temporary one (initdb, trust authentication on loopback only), and
the server is stopped, and its files removed, when the tests are done. PostgreSQL refuses to run as root: as root,
the server runs as the `postgres` user the Debian package creates."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.redis_servers import HOST, free_port

START_TIMEOUT = 30.0


class PostgresHarnessError(RuntimeError):
    """The server did not start or answer; the message carries its log's tail."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise PostgresHarnessError("PostgreSQL not found; install Debian's package: apt-get install postgresql")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sessionhub-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self._process: subprocess.Popen[bytes] | None = None

    def _as_server_user(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self._user, "--", *argv] if os.geteuid() == 0 else list(argv)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.dir, self._user)
        subprocess.run(
            self._as_server_user(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            ),
            check=True,
            capture_output=True,
        )
        atexit.register(self.stop)  # nothing outlives the test run, even a failed one
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                self._as_server_user(
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-h",
                    HOST,
                    "-k",
                    str(self.dir),
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", HOST, "-p", str(self.port)], capture_output=True, check=False
            )
            if ready.returncode == 0:
                return self
            if self._process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise PostgresHarnessError(f"PostgreSQL did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        subprocess.run(
            [str(self.bin / "createdb"), "-h", HOST, "-p", str(self.port), "-U", "postgres", name],
            check=True,
            capture_output=True,
        )
        return self.url(name)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown: clients are disconnected
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
