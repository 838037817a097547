"""Real redis-server deployments on loopback for the test suite.

The brief forbids fake or mocked Redis, so every backend, fault and deployment test talks to processes
started here: a single server (`RedisServer`), a cluster (`RedisCluster`) and a primary/replica pair
watched by three sentinels (`RedisSentinelGroup`). Each process binds 127.0.0.1 on a free port, keeps
its files in its own temp dir, and can be killed, paused, resumed and restarted on the same port, which
is what fault tests need: clients keep the same URL and must recover by themselves.

Every wait has a deadline and fails with the tail of the server's log. Nothing outlives the test
process: an atexit hook kills whatever is still running, and servers started from the main thread
also get a parent-death signal, so even a test run that is killed with SIGKILL leaves no server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "HOST",
    "RedisCluster",
    "RedisHarnessError",
    "RedisSentinel",
    "RedisSentinelGroup",
    "RedisServer",
    "free_port",
]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
CLUSTER_TIMEOUT = 20.0
SENTINEL_TIMEOUT = 20.0

# A probe that hangs on a paused server must not eat the whole deadline of the wait around it.
_PROBE_TIMEOUT = 0.5
_BIND_ATTEMPTS = 5
_LOG_TAIL_LINES = 25
_CLUSTER_SLOTS = 16384
_LOG_NAME = "redis.log"
# Output written before redis opens its logfile (bad config, bad arguments) only reaches stdout/stderr.
_CONSOLE_NAME = "console.log"
_CONFIG_NAME = "redis.conf"

T = TypeVar("T")


class RedisHarnessError(RuntimeError):
    """A deployment did not start, answer or stop as asked; the message carries the server log tail."""


class _PortTaken(RedisHarnessError):
    """redis-server exited because its port was grabbed between `free_port()` and its bind."""


def _binary(name: str, debian_package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RedisHarnessError(
            f"{name} not found on PATH; install the Debian package {debian_package!r} "
            f"(apt-get install {debian_package})"
        )
    return path


# Ports handed out by this process. The kernel may return a port that was just released, and a
# server that was killed must get its port back on restart, so ports stay reserved until exit.
_reserved_ports: set[int] = set()
_reserved_lock = threading.Lock()


def free_port() -> int:
    """A loopback port nobody listens on now and that this process has not handed out before.

    It is free only at the moment of the check; servers retry with a new port when they lose the race.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        with _reserved_lock:
            if port not in _reserved_ports:
                _reserved_ports.add(port)
                return port
    raise RedisHarnessError("no free loopback port found in 100 attempts")


def _wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    diagnostics: Callable[[], str] = lambda: "",
) -> T:
    """Poll `probe` until it returns a truthy value; Redis errors count as "not yet".

    The interval grows from 10 ms to 100 ms: fast when the event is quick (a local server starts in a
    few milliseconds), cheap when it is slow (sentinels gossip every two seconds).
    """
    deadline = time.monotonic() + timeout
    interval = 0.01
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
        except redis.RedisError as exc:
            last_error = exc
            result = None
        if result:
            return result
        if time.monotonic() >= deadline:
            cause = f" (last error: {last_error!r})" if last_error else ""
            raise RedisHarnessError(f"{what} not reached within {timeout:g} s{cause}\n{diagnostics()}")
        time.sleep(interval)
        interval = min(interval * 2, 0.1)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"<{path} unreadable>"
    return "\n".join(text.splitlines()[-lines:]) or f"<{path} empty>"


def _parse_info(raw: bytes) -> dict[str, str]:
    """CLUSTER INFO style text ("key:value" lines) as a dict."""
    fields: dict[str, str] = {}
    for line in raw.decode().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _probe_client(port: int) -> redis.Redis:
    return redis.Redis(
        host=HOST,
        port=port,
        socket_timeout=_PROBE_TIMEOUT,
        socket_connect_timeout=_PROBE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )


# Parent-death signal: if the test process dies without running atexit (SIGKILL, segfault, CI timeout)
# the kernel kills its servers. Linux sends it when the *thread* that forked exits, so it is only used
# for servers started from the main thread; a server started from a worker thread would otherwise die
# as soon as that thread ends, long before its test does.
_SETPRIV = shutil.which("setpriv")


def _orphan_guard() -> list[str]:
    if _SETPRIV and threading.current_thread() is threading.main_thread():
        return [_SETPRIV, "--pdeathsig", "KILL"]
    return []


_live: set[_ServerProcess] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    """Safety net for tests that forget to stop a server, or that crash before their teardown."""
    with _live_lock:
        leftovers = list(_live)
    for server in leftovers:
        with contextlib.suppress(Exception):
            server.kill()
        with contextlib.suppress(Exception):
            server.stop()


class _StopsOnExit:
    """`with X.start() as x:` stops the deployment however the block ends."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _ServerProcess(_StopsOnExit):
    """One redis-server process (plain or sentinel) with its temp dir, port and lifecycle.

    Subclasses say what goes into the config file; this class owns starting, readiness, signals,
    restart on the same port and clean-up.
    """

    host: str = HOST

    def __init__(self, *, port: int | None, extra_args: Sequence[str]) -> None:
        # An explicit port is the caller's promise; only ports we picked may be re-picked after a lost race.
        self._port_is_ours = port is None
        self.port: int = free_port() if port is None else port
        self.extra_args: tuple[str, ...] = tuple(extra_args)
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False

    # -- what subclasses provide ------------------------------------------------------------------
    def _config_lines(self, directory: Path) -> list[str]:
        raise NotImplementedError

    def _mode_args(self) -> list[str]:
        """Arguments after the config file that select the server mode (e.g. --sentinel)."""
        return []

    def _pick_new_ports(self) -> None:
        self.port = free_port()

    def _before_restart(self, directory: Path) -> None:
        """Hook to drop state a restart must not see (e.g. data files when persistence is off)."""

    def _wait_ready(self) -> None:
        self._wait(self._ping, what=f"{self.describe()} answering PING", timeout=START_TIMEOUT)

    # -- public lifecycle ---------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        """Pid of the latest process (it may have exited; check `is_running()`)."""
        if self._process is None:
            raise RedisHarnessError(f"{self.describe()} was never started")
        return self._process.pid

    @property
    def directory(self) -> Path:
        """The server's temp dir (config, log, data files); exists until `stop()`."""
        if self._dir is None:
            raise RedisHarnessError(f"{self.describe()} has no directory (stopped)")
        return self._dir

    @property
    def log_path(self) -> Path:
        return self.directory / _LOG_NAME

    def describe(self) -> str:
        return f"{type(self).__name__}({self.host}:{self.port})"

    def is_running(self) -> bool:
        """True while the process exists, paused or not."""
        return self._process is not None and self._process.poll() is None

    def is_paused(self) -> bool:
        return self._paused and self.is_running()

    def client(self, **overrides: Any) -> redis.Redis:
        """A sync redis-py client for setup and assertions; the caller closes it.

        Retries are off (redis-py retries connection errors by default) so that a fault test sees exactly
        one timeout or refusal per command; the 5 s timeouts keep a paused server from hanging a test.
        Keyword arguments override any setting, e.g. `client(socket_timeout=0.2)`.
        """
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "decode_responses": False,
            "socket_timeout": 5.0,
            "socket_connect_timeout": 5.0,
            "retry": Retry(NoBackoff(), 0),
        }
        options.update(overrides)
        return redis.Redis(**options)

    def kill(self) -> None:
        """SIGKILL (works on a paused process too) and wait for exit; files stay for `restart()`."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            self._reap(process)
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections into the backlog, but nothing is answered.

        Returns once the kernel reports the process stopped, so the next command surely hangs.
        """
        process = self._running_process("pause")
        process.send_signal(signal.SIGSTOP)
        self._paused = True
        self._wait(lambda: self._proc_state() == "T", what=f"{self.describe()} stopped", timeout=5.0)

    def resume(self) -> None:
        """SIGCONT, then wait until the server answers again."""
        process = self._running_process("resume")
        process.send_signal(signal.SIGCONT)
        self._paused = False
        self._wait(self._ping, what=f"{self.describe()} answering after SIGCONT", timeout=5.0)

    def restart(self) -> None:
        """Start again on the same port after `kill()`, `shutdown()` or `stop()`; returns once it answers.

        A replica is not waited for to resync: its primary may be the thing a fault test took down.
        """
        if self.is_running():
            raise RedisHarnessError(f"{self.describe()} is running; kill(), shutdown() or stop() it first")
        if self._dir is None:
            self._launch(retry_ports=False)
            return
        self._before_restart(self._dir)
        self._spawn(self._dir)
        self._wait_ready()

    def shutdown(self) -> None:
        """Graceful SIGTERM shutdown that keeps the temp dir, so `restart()` finds persisted data."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        if self._paused:
            # A stopped process would only handle SIGTERM once continued.
            process.send_signal(signal.SIGCONT)
            self._paused = False
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            self._reap(process)

    def stop(self) -> None:
        """Graceful shutdown and removal of the temp dir; idempotent. A later `restart()` starts empty."""
        self.shutdown()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        with _live_lock:
            _live.discard(self)

    def __repr__(self) -> str:
        state = "paused" if self.is_paused() else "running" if self.is_running() else "down"
        return f"<{self.describe()} {state}>"

    # -- internals --------------------------------------------------------------------------------
    def _launch(self, *, retry_ports: bool) -> None:
        """Create a fresh dir and config, start, and wait until ready.

        If we chose the port and another process bound it first, start over on new ports.
        """
        attempts = _BIND_ATTEMPTS if retry_ports and self._port_is_ours else 1
        for attempt in range(1, attempts + 1):
            self._dir = Path(tempfile.mkdtemp(prefix=f"sessionhub-{type(self).__name__.lower()}-"))
            with _live_lock:
                _live.add(self)
            try:
                self._spawn(self._dir)
                self._wait_ready()
            except _PortTaken:
                self.stop()
                if attempt == attempts:
                    raise
                self._pick_new_ports()
            except BaseException:
                self.kill()
                self.stop()
                raise
            else:
                return

    def _spawn(self, directory: Path) -> None:
        config = directory / _CONFIG_NAME
        if not config.exists():
            config.write_text("\n".join(self._config_lines(directory)) + "\n")
        command = [
            *_orphan_guard(),
            _binary("redis-server", "redis-server"),
            str(config),
            *self._mode_args(),
            *self.extra_args,
        ]
        with (directory / _CONSOLE_NAME).open("ab") as console:
            self._process = subprocess.Popen(
                command,
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                # Keep terminal signals (Ctrl-C, Ctrl-Z) away from the servers: only the harness signals them.
                start_new_session=True,
            )
        self._paused = False

    def _ping(self) -> bool:
        """True once *our* process answers PING (not LOADING) on the port.

        Raises if the process died, so waits fail fast with the log instead of timing out. The pid check
        guards against declaring ready a stranger that holds the port while our server dies on bind.
        """
        process = self._process
        if process is None or process.poll() is not None:
            log = self._diagnostics()
            exit_code = None if process is None else process.returncode
            message = f"{self.describe()} exited with code {exit_code}\n{log}"
            if "Address already in use" in log:
                raise _PortTaken(message)
            raise RedisHarnessError(message)
        with _probe_client(self.port) as probe:
            return bool(probe.ping()) and int(probe.info("server")["process_id"]) == process.pid

    def _wait(self, probe: Callable[[], T | None], *, what: str, timeout: float) -> T:
        return _wait_until(probe, timeout=timeout, what=what, diagnostics=self._diagnostics)

    def _diagnostics(self) -> str:
        if self._dir is None:
            return f"{self.describe()}: no log (directory removed)"
        return (
            f"--- {self.describe()} log tail ({self._dir / _LOG_NAME}) ---\n{_tail(self._dir / _LOG_NAME)}\n"
            f"--- console ---\n{_tail(self._dir / _CONSOLE_NAME)}"
        )

    def _running_process(self, action: str) -> subprocess.Popen[bytes]:
        process = self._process
        if process is None or process.poll() is not None:
            raise RedisHarnessError(f"cannot {action} {self.describe()}: it is not running")
        return process

    def _proc_state(self) -> str:
        """Process state letter from /proc ("T" = stopped by a signal)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        # The command name in parentheses may contain spaces; the state follows the closing one.
        return stat.rpartition(")")[2].split()[0]

    def _reap(self, process: subprocess.Popen[bytes]) -> None:
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise RedisHarnessError(f"{self.describe()} (pid {process.pid}) did not exit after SIGKILL") from exc

    def _common_config(self, directory: Path) -> list[str]:
        return [
            f"port {self.port}",
            f"bind {HOST}",
            "protected-mode no",
            "daemonize no",
            f"dir {directory}",
            f"logfile {directory / _LOG_NAME}",
        ]


class RedisServer(_ServerProcess):
    """One redis-server on 127.0.0.1 and a free port, no persistence by default, own temp dir."""

    def __init__(
        self,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        persistence: bool = False,
        cluster: bool = False,
        replica_of: RedisServer | None = None,
    ) -> None:
        super().__init__(port=port, extra_args=extra_args)
        self.persistence = persistence
        self.cluster = cluster
        self.replica_of = replica_of
        # Chosen explicitly (not port + 10000) so that a high ephemeral port cannot overflow 65535.
        self.cluster_bus_port: int | None = free_port() if cluster else None

    @classmethod
    def start(
        cls,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        persistence: bool = False,
        cluster: bool = False,
        replica_of: RedisServer | None = None,
    ) -> RedisServer:
        """Start and wait until it answers PING (and, for a replica, until its link to the primary is up)."""
        server = cls(port=port, extra_args=extra_args, persistence=persistence, cluster=cluster, replica_of=replica_of)
        server._launch(retry_ports=True)
        if replica_of is not None:
            # Only at start: a restarted replica may legitimately find its primary down (fault tests).
            try:
                server._wait(server._replica_link_up, what=f"{server.describe()} replicating", timeout=START_TIMEOUT)
            except BaseException:
                server.stop()
                raise
        return server

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _config_lines(self, directory: Path) -> list[str]:
        lines = [
            *self._common_config(directory),
            'save ""',
            # Teardown must not wait up to 10 s for a paused or lagging replica to catch up.
            "shutdown-on-sigterm now",
            # The default waits 5 s for more replicas before a full sync; tests have one replica at a time.
            "repl-diskless-sync-delay 0",
        ]
        if self.persistence:
            lines += ["appendonly yes", "appendfsync always"]
        else:
            lines.append("appendonly no")
        if self.cluster:
            lines += [
                "cluster-enabled yes",
                f"cluster-config-file {directory / 'nodes.conf'}",
                "cluster-node-timeout 2000",
                f"cluster-port {self.cluster_bus_port}",
            ]
        if self.replica_of is not None:
            lines.append(f"replicaof {self.replica_of.host} {self.replica_of.port}")
        return lines

    def _pick_new_ports(self) -> None:
        super()._pick_new_ports()
        if self.cluster:
            self.cluster_bus_port = free_port()

    def _before_restart(self, directory: Path) -> None:
        if self.persistence:
            return
        # A replica's full sync leaves dump.rdb behind even with `save ""`; a non-persistent restart
        # must come back empty, as a real cache node would after losing its memory.
        for rdb in directory.glob("*.rdb"):
            rdb.unlink()
        shutil.rmtree(directory / "appendonlydir", ignore_errors=True)

    def _replica_link_up(self) -> bool:
        with _probe_client(self.port) as probe:
            return bool(probe.info("replication").get("master_link_status") == "up")


class ConnectionKiller:
    """Kills every normal client connection of `server` every 5-30 ms, from a thread, until stopped."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.killed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-killer", daemon=True)

    def __enter__(self) -> ConnectionKiller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        rng = random.Random(19)
        with self.server.client() as admin:
            while not self._stop.wait(rng.uniform(0.005, 0.03)):
                self.killed += int(admin.client_kill_filter(_type="normal", skipme=True))


class RedisSentinel(_ServerProcess):
    """A `redis-server <conf> --sentinel` process monitoring one primary.

    Sentinel rewrites its config file with what it learns, so `restart()` after `kill()` comes back
    with the same view of the deployment instead of the initial one.
    """

    def __init__(
        self,
        *,
        service_name: str,
        primary: tuple[str, int],
        quorum: int,
        down_after_ms: int,
        failover_timeout_ms: int,
    ) -> None:
        super().__init__(port=None, extra_args=())
        self.service_name = service_name
        self.monitored_primary = primary
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    @classmethod
    def start(
        cls,
        *,
        service_name: str,
        primary: tuple[str, int],
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ) -> RedisSentinel:
        sentinel = cls(
            service_name=service_name,
            primary=primary,
            quorum=quorum,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
        )
        sentinel._launch(retry_ports=True)
        return sentinel

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _mode_args(self) -> list[str]:
        return ["--sentinel"]

    def _config_lines(self, directory: Path) -> list[str]:
        host, port = self.monitored_primary
        name = self.service_name
        return [
            *self._common_config(directory),
            "sentinel resolve-hostnames no",
            f"sentinel announce-ip {HOST}",
            f"sentinel announce-port {self.port}",
            f"sentinel monitor {name} {host} {port} {self.quorum}",
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
            f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {name} 1",
        ]


class RedisCluster(_StopsOnExit):
    """N masters (default 3) with optional replicas each, joined by `redis-cli --cluster create`.

    `nodes` lists the masters first, then the replicas: with every node on one host redis-cli makes the
    first N addresses masters. Roles can change later (a killed master's replica takes over).
    """

    def __init__(self, nodes: list[RedisServer]) -> None:
        self.nodes = nodes

    @classmethod
    def start(cls, *, masters: int = 3, replicas: int = 0) -> RedisCluster:
        """Start the nodes, create the cluster, and wait until every node reports cluster_state:ok."""
        if masters < 3:
            raise ValueError(f"redis-cli --cluster create needs at least 3 masters, got {masters}")
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0, got {replicas}")
        cluster = cls([])
        try:
            for _ in range(masters * (1 + replicas)):
                cluster.nodes.append(RedisServer.start(cluster=True))
            cluster._create(replicas)
            cluster._wait_healthy()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def url(self) -> str:
        """Any one node is enough for a cluster client to discover the rest."""
        return f"redis://{HOST}:{self.nodes[0].port}"

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(node.host, node.port) for node in self.nodes]

    def node_for_key(self, key: str | bytes) -> RedisServer:
        """The master currently serving `key`'s slot, as the cluster itself reports it."""
        with self._running_node().client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            ranges = client.execute_command("CLUSTER", "SLOTS")
        for start, end, master, *_replicas in ranges:
            if int(start) <= slot <= int(end):
                return self._node_at(int(master[1]))
        raise RedisHarnessError(f"no node serves slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def masters(self) -> list[RedisServer]:
        """The nodes serving slots now, as the cluster reports them."""
        with self._running_node().client() as client:
            ranges = client.execute_command("CLUSTER", "SLOTS")
        return [self._node_at(port) for port in sorted({int(master[1]) for _, _, master, *_ in ranges})]

    def reshard(self, source: RedisServer, target: RedisServer, slots: int) -> None:
        """Move `slots` slots and their keys from `source` to `target` with `redis-cli --cluster reshard`, as an
        operator would: slot by slot, keys by MIGRATE, clients redirected by ASK and then MOVED."""
        with source.client() as client:
            source_id = client.execute_command("CLUSTER", "MYID").decode()
        with target.client() as client:
            target_id = client.execute_command("CLUSTER", "MYID").decode()
        command = [
            _binary("redis-cli", "redis-tools"), "--cluster", "reshard", f"{source.host}:{source.port}",
            "--cluster-from", source_id, "--cluster-to", target_id, "--cluster-slots", str(slots),
            "--cluster-yes", "--cluster-pipeline", "100",
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RedisHarnessError("redis-cli --cluster reshard hung for 60 s") from exc
        if result.returncode != 0:
            raise RedisHarnessError(f"redis-cli --cluster reshard failed:\n{result.stdout[-2000:]}{result.stderr}")
        _wait_until(self._nodes_agree, timeout=CLUSTER_TIMEOUT, what="every node agreeing on the slots after a reshard")

    def _nodes_agree(self) -> bool:
        """Every running node maps the slots to the same masters (the new owner's epoch spreads by gossip)."""
        views = set()
        for node in self.nodes:
            if node.is_running() and not node.is_paused():
                with _probe_client(node.port) as probe:
                    slots = probe.execute_command("CLUSTER", "SLOTS")
                views.add(tuple(sorted((int(start), int(end), int(master[1])) for start, end, master, *_ in slots)))
        return len(views) == 1

    def _create(self, replicas: int) -> None:
        command = [
            _binary("redis-cli", "redis-tools"),
            "--cluster",
            "create",
            *(f"{node.host}:{node.port}" for node in self.nodes),
            "--cluster-replicas",
            str(replicas),
            "--cluster-yes",
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=CLUSTER_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RedisHarnessError(f"redis-cli --cluster create hung for {CLUSTER_TIMEOUT:g} s") from exc
        if result.returncode != 0 or "All 16384 slots covered" not in result.stdout:
            raise RedisHarnessError(
                f"redis-cli --cluster create failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _wait_healthy(self) -> None:
        for node in self.nodes:
            _wait_until(
                functools.partial(self._node_healthy, node),
                timeout=CLUSTER_TIMEOUT,
                what=f"{node.describe()} cluster_state:ok",
                diagnostics=node._diagnostics,
            )

    def _node_healthy(self, node: RedisServer) -> bool:
        """OK state alone is not enough: a node can say ok before it has met every other node."""
        with _probe_client(node.port) as probe:
            info = _parse_info(probe.execute_command("CLUSTER", "INFO"))
            if (
                info.get("cluster_state") != "ok"
                or int(info.get("cluster_known_nodes", 0)) != len(self.nodes)
                or int(info.get("cluster_slots_ok", 0)) != _CLUSTER_SLOTS
            ):
                return False
            replication = probe.info("replication")
        return bool(replication.get("role") == "master" or replication.get("master_link_status") == "up")

    def _running_node(self) -> RedisServer:
        for node in self.nodes:
            if node.is_running() and not node.is_paused():
                return node
        raise RedisHarnessError("no cluster node is running")

    def _node_at(self, port: int) -> RedisServer:
        for node in self.nodes:
            if node.port == port:
                return node
        raise RedisHarnessError(f"port {port} is not a node of this cluster")


class RedisSentinelGroup(_StopsOnExit):
    """A primary, one replica, and three sentinels (quorum 2) monitoring it under `service_name`.

    `primary` and `replica` are the servers as started; after a failover their roles are swapped in
    Redis but not in these attributes. Use `current_primary()` and `server_at()` for the live roles.
    """

    QUORUM = 2
    SENTINELS = 3

    def __init__(self, *, service_name: str, primary: RedisServer, replica: RedisServer) -> None:
        self.service_name = service_name
        self.primary = primary
        self.replica = replica
        self.sentinels: list[RedisSentinel] = []

    @classmethod
    def start(
        cls,
        *,
        service_name: str = "sessionhub",
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ) -> RedisSentinelGroup:
        """Start everything and wait until every sentinel knows the replica and the other sentinels.

        Sentinels discover each other through hello messages every 2 s, so this takes a few seconds;
        returning earlier would make an immediate `failover()` fail with NOGOODSLAVE or no quorum.
        """
        primary = RedisServer.start()
        try:
            replica = RedisServer.start(replica_of=primary)
        except BaseException:
            primary.stop()
            raise
        group = cls(service_name=service_name, primary=primary, replica=replica)
        try:
            for _ in range(cls.SENTINELS):
                group.sentinels.append(
                    RedisSentinel.start(
                        service_name=service_name,
                        primary=primary.address,
                        quorum=cls.QUORUM,
                        down_after_ms=down_after_ms,
                        failover_timeout_ms=failover_timeout_ms,
                    )
                )
            for sentinel in group.sentinels:
                _wait_until(
                    functools.partial(group._sentinel_ready, sentinel),
                    timeout=SENTINEL_TIMEOUT,
                    what=f"{sentinel.describe()} seeing the replica and {cls.SENTINELS - 1} other sentinels",
                    diagnostics=sentinel._diagnostics,
                )
        except BaseException:
            group.stop()
            raise
        return group

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [sentinel.address for sentinel in self.sentinels]

    def current_primary(self) -> tuple[str, int]:
        """The primary address most sentinels report; unreachable or paused sentinels are skipped.

        Right after a failover sentinels may briefly disagree until the hello messages spread; callers
        that need agreement should use `wait_for_primary()`.
        """
        answers = [answer for answer in self._primary_per_sentinel() if answer is not None]
        if not answers:
            raise RedisHarnessError(f"no sentinel knows the primary of {self.service_name!r}")
        return Counter(answers).most_common(1)[0][0]

    def failover(self, *, timeout: float = 30) -> tuple[str, int]:
        """SENTINEL FAILOVER, then wait for a new primary that all sentinels report and that takes writes.

        The command is repeated while sentinels refuse it (e.g. NOGOODSLAVE while the replica's state is
        still being refreshed) or after an attempt that ended without a new primary.
        """
        old = self.current_primary()

        def promoted() -> tuple[str, int] | None:
            new = self._new_primary_accepting_writes(old)
            if new is None:
                self._request_failover(away_from=old)
            return new

        return _wait_until(
            promoted,
            timeout=timeout,
            what=f"failover of {self.service_name!r} away from {old[0]}:{old[1]}",
            diagnostics=self._diagnostics,
        )

    def wait_for_primary(self, *, not_at: tuple[str, int], timeout: float = 30) -> tuple[str, int]:
        """Wait until all sentinels report a primary other than `not_at` that takes writes.

        For tests that cause the failover themselves, e.g. by killing or pausing the primary.
        """
        return _wait_until(
            lambda: self._new_primary_accepting_writes(not_at),
            timeout=timeout,
            what=f"a new primary of {self.service_name!r} instead of {not_at[0]}:{not_at[1]}",
            diagnostics=self._diagnostics,
        )

    def server_at(self, address: tuple[str, int]) -> RedisServer:
        for server in (self.primary, self.replica):
            if server.address == address:
                return server
        raise RedisHarnessError(f"{address[0]}:{address[1]} is not a data server of this group")

    def stop(self) -> None:
        """Sentinels first, so that stopping the primary does not set off a failover during teardown."""
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.primary.stop()

    def _sentinel_ready(self, sentinel: RedisSentinel) -> bool:
        with _probe_client(sentinel.port) as probe:
            state = probe.sentinel_master(self.service_name)
            replicas = probe.sentinel_slaves(self.service_name)
        return (
            int(state["num-other-sentinels"]) == self.SENTINELS - 1
            and len(replicas) == 1
            and replicas[0]["master-link-status"] == "ok"
            and not replicas[0]["is_disconnected"]
        )

    def _primary_per_sentinel(self) -> list[tuple[str, int] | None]:
        answers: list[tuple[str, int] | None] = []
        for sentinel in self.sentinels:
            if not sentinel.is_running() or sentinel.is_paused():
                continue
            try:
                with _probe_client(sentinel.port) as probe:
                    reply = probe.sentinel_get_master_addr_by_name(self.service_name)
            except redis.RedisError:
                continue
            answers.append(None if not reply else (reply[0].decode(), int(reply[1])))
        return answers

    def _new_primary_accepting_writes(self, old: tuple[str, int]) -> tuple[str, int] | None:
        answers = set(self._primary_per_sentinel())
        if len(answers) != 1:
            return None
        (new,) = answers
        if new is None or new == old:
            return None
        # DEL of a missing key is a write (a replica refuses it with READONLY) that leaves no data behind.
        with _probe_client(new[1]) as probe:
            probe.delete("sessionhub-harness:write-probe")
        return new

    def _request_failover(self, *, away_from: tuple[str, int]) -> None:
        """Ask one sentinel for a failover unless it already did one or is doing one.

        Asking a sentinel that already switched would fail over back to the old primary, and asking
        during a failover only gets INPROG, so both are checked on the sentinel that is asked.
        """
        sentinel = next((s for s in self.sentinels if s.is_running() and not s.is_paused()), None)
        if sentinel is None:
            raise RedisHarnessError("no sentinel is running")
        with _probe_client(sentinel.port) as probe:
            state = probe.sentinel_master(self.service_name)
            if (state["ip"], int(state["port"])) != away_from or "failover_in_progress" in state["flags"]:
                return
            # NOGOODSLAVE while the replica's state is being refreshed: the next poll asks again.
            with contextlib.suppress(redis.ResponseError):
                probe.sentinel_failover(self.service_name)

    def _diagnostics(self) -> str:
        parts = [server._diagnostics() for server in (self.primary, self.replica, *self.sentinels)]
        return "\n".join(parts)
