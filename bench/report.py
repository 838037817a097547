"""Turns one run's results into tables (terminal and Markdown), bench/RESULTS.md and a PNG chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table as RichTable

from bench.asgi import Contender, RequestResult, Storage
from bench.memory import MemoryResult
from bench.ops import OpResult
from bench.scale import ScaleResult
from bench.workload import typical_payload


@dataclass
class RunResults:
    date: str
    machine: dict[str, str]
    versions: dict[str, str]
    settings: dict[str, str]
    contenders: Sequence[Contender]
    reference_peers: Mapping[Storage, str]
    floor: tuple[str, str]
    suite_labels: dict[str, str]
    ops: list[OpResult] = field(default_factory=list)
    requests: list[RequestResult] = field(default_factory=list)
    memory: list[MemoryResult] = field(default_factory=list)
    scale: list[ScaleResult] = field(default_factory=list)

    def contender(self, name: str) -> Contender:
        return next(contender for contender in self.contenders if contender.name == name)

    def reference_of(self, name: str) -> str:
        return self.reference_peers[self.contender(name).storage]


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(value: float, reference: float | None) -> str:
    if reference is None or reference <= 0:
        return "-"
    return f"{value / reference:.2f}x"


def _per_second(result: OpResult | RequestResult | None) -> float | None:
    return None if result is None else result.throughput.per_second


def _optional(value: float | None) -> str:
    return "-" if value is None else _number(value)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _concurrencies(results: Sequence[OpResult] | Sequence[RequestResult]) -> list[int]:
    return sorted({result.concurrency for result in results})


def ops_table(results: RunResults) -> Table:
    concurrencies = _concurrencies(results.ops)
    by_key = {(r.suite, r.op, r.concurrency): r for r in results.ops}
    floor = {c: by_key.get((*results.floor, c)) for c in concurrencies}
    columns = ["suite", "operation"]
    for c in concurrencies:
        columns += [f"ops/s, {plural(c, 'task')}", "p50 µs", "p99 µs", f"x {results.floor[1]} floor"]
    columns.append("round trips/op")
    rows = []
    for suite, op in dict.fromkeys((r.suite, r.op) for r in results.ops):
        row = [results.suite_labels.get(suite, suite), op]
        round_trips = 0.0
        for c in concurrencies:
            result = by_key.get((suite, op, c))
            if result is None:
                row += ["-"] * 4
                continue
            floor_result = floor[c]
            row += [
                _number(result.throughput.per_second),
                _number(result.throughput.p50_us),
                _number(result.throughput.p99_us),
                _ratio(result.throughput.per_second, _per_second(floor_result)),
            ]
            round_trips = result.round_trips_per_op
        rows.append([*row, _number(round_trips)])
    notes = [f"Ratios divide ops/s by redis-py's {results.floor[1]} at the same concurrency (1.00x = the floor)."]
    return Table("1. Core operations", columns, rows, notes)


def requests_table(results: RunResults) -> Table:
    concurrencies = _concurrencies(results.requests)
    by_key = {(r.contender, r.scenario, r.concurrency): r for r in results.requests}
    columns = ["contender", "scenario"]
    for c in concurrencies:
        columns += [f"req/s, {plural(c, 'client')}", "p50 µs", "p99 µs", "x peer"]
    columns.append("peer")
    rows = []
    for name, scenario in dict.fromkeys((r.contender, r.scenario) for r in results.requests):
        reference = results.reference_of(name)
        row = [results.contender(name).label, scenario]
        for c in concurrencies:
            result = by_key.get((name, scenario, c))
            peer = by_key.get((reference, scenario, c))
            if result is None:
                row += ["-"] * 4
                continue
            row += [
                _number(result.throughput.per_second),
                _number(result.throughput.p50_us),
                _number(result.throughput.p99_us),
                _ratio(result.throughput.per_second, _per_second(peer)),
            ]
        rows.append([*row, reference])
    notes = [
        "Each contender is compared with the peer that keeps sessions in the same kind of storage "
        "(Redis, process memory, cookie); the peer's own row reads 1.00x.",
        "Read-only: the handler reads one key. Modifying: it increments a counter. Every client has its "
        "own signed-in session and every response is checked.",
    ]
    return Table("2. In-process ASGI requests", columns, rows, notes)


def round_trips_table(results: RunResults) -> Table:
    scenarios = list(dict.fromkeys(r.scenario for r in results.requests))
    first: dict[tuple[str, str], RequestResult] = {}
    for result in sorted(results.requests, key=lambda r: r.concurrency):
        first.setdefault((result.contender, result.scenario), result)
    columns = ["contender"]
    for scenario in scenarios:
        columns += [f"{scenario}: round trips/req", "server commands/req"]
    rows = []
    for name in dict.fromkeys(r.contender for r in results.requests):
        row = [results.contender(name).label]
        for scenario in scenarios:
            measured = first.get((name, scenario))
            row += (
                ["-", "-"]
                if measured is None
                else [
                    _number(measured.round_trips_per_request),
                    commands_summary(measured.commands_per_request),
                ]
            )
        rows.append(row)
    notes = [
        "Round trips: writes to Redis by the contender's client (a pipeline or script call counts once). "
        "Server commands: INFO commandstats deltas, commands run inside scripts included, PINGs (health checks on "
        "a timer) left out.",
    ]
    return Table("3. Redis round trips per request", columns, rows, notes)


def commands_summary(commands: dict[str, float]) -> str:
    """``get 1, set 1``: what the server executed per request, most frequent first."""
    ordered = sorted(commands.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {calls:.3g}" for name, calls in ordered) or "none"


def _stored_bytes(result: MemoryResult, storage: str) -> float | None:
    if storage == "redis":
        return result.redis_key_bytes
    if storage == "memory":
        return result.process_bytes
    return result.cookie_bytes


def memory_table(results: RunResults) -> Table:
    by_name = {result.contender: result for result in results.memory}
    columns = [
        "contender",
        "stored bytes/session",
        "x peer",
        "Redis MEMORY USAGE",
        "Redis used_memory growth",
        "Redis keys/session",
        "process bytes/session",
        "cookie bytes",
    ]
    rows = []
    for result in results.memory:
        storage = results.contender(result.contender).storage
        stored = _stored_bytes(result, storage)
        peer = by_name.get(results.reference_of(result.contender))
        rows.append(
            [
                results.contender(result.contender).label,
                _optional(stored),
                _ratio(stored, None if peer is None else _stored_bytes(peer, storage)) if stored is not None else "-",
                _optional(result.redis_key_bytes),
                _optional(result.redis_used_memory_bytes),
                _optional(result.redis_keys),
                _number(result.process_bytes),
                _number(result.cookie_bytes),
            ]
        )
    payload = orjson.dumps(typical_payload(1)).decode()
    notes = [
        f"Averaged over {results.memory[0].sessions if results.memory else 0} sessions signed in through "
        "each contender's own middleware. Stored bytes: Redis MEMORY USAGE for Redis stores, Python memory "
        "retained (tracemalloc) for in-process stores, the Cookie header for cookie sessions.",
        f"Payload: `{payload}`",
    ]
    return Table("4. Memory per session", columns, rows, notes)


def scale_table(results: RunResults) -> Table:
    floors = {r.op.op: r for r in results.scale if r.suite == results.floor[0]}
    columns = [
        "suite",
        "operation",
        "sessions in Redis",
        "fill s",
        "Redis used_memory MiB",
        "calls",
        "p50 µs",
        "p99 µs",
        "ops/s",
        f"x {results.floor[1]} floor",
    ]
    rows = []
    for result in results.scale:
        floor = floors.get(results.floor[1])
        rows.append(
            [
                results.suite_labels.get(result.suite, result.suite),
                result.op.op,
                f"{result.sessions:,}",
                f"{result.populate_s:.1f}",
                f"{result.used_memory_bytes / 2**20:,.0f}",
                f"{result.op.throughput.count:,}",
                _number(result.op.throughput.p50_us),
                _number(result.op.throughput.p99_us),
                _number(result.op.throughput.per_second),
                _ratio(result.op.throughput.per_second, None if floor is None else floor.op.throughput.per_second),
            ]
        )
    notes = ["One task, keys drawn at random over the whole keyspace; Redis is emptied between suites."]
    return Table("5. Scale", columns, rows, notes)


@dataclass(frozen=True)
class Goal:
    """A design goal of issue 7: `contender`'s requests per second in `scenario` over the reference's, per
    concurrency. The reference is another ASGI contender, or (`floor_op`) the raw redis-py loop of the ops section."""

    label: str
    contender: str
    scenario: str
    at_least: float
    reference: str | None = None
    floor_op: str | None = None


GOALS = (
    Goal("Redis read-only >= 3x starsessions", "sessionhub-redis", "read-only", 3.0, reference="starsessions-redis"),
    Goal("Redis read-only >= 0.8x a raw redis-py GET loop", "sessionhub-redis", "read-only", 0.8, floor_op="GET"),
    Goal(
        "(client cache off) Redis read-only >= 3x starsessions",
        "sessionhub-redis-uncached",
        "read-only",
        3.0,
        reference="starsessions-redis",
    ),
    Goal(
        "(client cache off) Redis read-only >= 0.8x a raw redis-py GET loop",
        "sessionhub-redis-uncached",
        "read-only",
        0.8,
        floor_op="GET",
    ),
    Goal(
        "memory >= 1.5x Starlette's signed cookie, read-only", "sessionhub-memory", "read-only", 1.5, "starlette-cookie"
    ),
    Goal(
        "memory >= 1.5x Starlette's signed cookie, modifying", "sessionhub-memory", "modifying", 1.5, "starlette-cookie"
    ),
)


def goals_table(results: RunResults) -> Table:
    concurrencies = _concurrencies(results.requests)
    requests = {(r.contender, r.scenario, r.concurrency): r.throughput.per_second for r in results.requests}
    floors = {(r.op, r.concurrency): r.throughput.per_second for r in results.ops if r.suite == results.floor[0]}
    columns = ["goal"]
    for c in concurrencies:
        columns += [f"ratio, {plural(c, 'client')}", "met?"]
    rows = []
    for goal in GOALS:
        row = [goal.label]
        for c in concurrencies:
            value = requests.get((goal.contender, goal.scenario, c))
            if goal.floor_op is not None:
                reference = floors.get((goal.floor_op, c))
            else:
                reference = requests.get((goal.reference or "", goal.scenario, c))
            if value is None or not reference:
                row += ["-", "-"]
                continue
            row += [f"{value / reference:.2f}x", "yes" if value / reference >= goal.at_least else "no"]
        if any(cell != "-" for cell in row[1:]):
            rows.append(row)
    notes = [
        "Requests per second of section 2 over the peer's in the same section, or over redis-py's GET loop of "
        "section 1 at the same number of concurrent tasks. The fourth goal, get and stats flat from 1k to 1M "
        "sessions, compares two runs of section 5 (`--scale-sessions`).",
    ]
    return Table("Design goals", columns, rows, notes)


def tables(results: RunResults) -> list[Table]:
    built = []
    if results.requests:
        goals = goals_table(results)
        if goals.rows:
            built.append(goals)
    if results.ops:
        built.append(ops_table(results))
    if results.requests:
        built += [requests_table(results), round_trips_table(results)]
    if results.memory:
        built.append(memory_table(results))
    if results.scale:
        built.append(scale_table(results))
    return built


def print_tables(console: Console, built: Sequence[Table]) -> None:
    for table in built:
        rich_table = RichTable(title=table.title, title_justify="left")
        for index, column in enumerate(table.columns):
            rich_table.add_column(column, justify="left" if index < 2 else "right")
        for row in table.rows:
            rich_table.add_row(*row)
        console.print(rich_table)
        for note in table.notes:
            console.print(f"  {note}", style="dim", markup=False)


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: RunResults, built: Sequence[Table], chart_name: str | None) -> str:
    parts = [
        "# sessionhub benchmark results",
        "",
        f"Measured by `python -m bench` on {results.date}, all contenders in one run against the same local "
        "redis-server, which the benchmark starts itself. One run on one machine: compare the ratios, "
        "not the absolute numbers. Regenerate with `python -m bench`.",
        "",
        "## Machine",
        "",
        _markdown_table(["", ""], list(results.machine.items())),
        "",
        "## Versions",
        "",
        _markdown_table(["", ""], list(results.versions.items())),
        "",
        "## Settings",
        "",
        _markdown_table(["", ""], list(results.settings.items())),
    ]
    for table in built:
        parts += ["", f"## {table.title}", "", _markdown_table(table.columns, table.rows), ""]
        parts += [f"- {note}" for note in table.notes]
    if chart_name:
        parts += ["", "## Chart", "", f"![throughput]({chart_name})"]
    return "\n".join(parts) + "\n"


def write_chart(results: RunResults, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [panel for panel in (_request_series(results), _op_series(results)) if panel[1]]
    if not panels:
        return
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, 4.2 * len(panels)), squeeze=False)
    for axis, (title, groups, series) in zip(axes[:, 0], panels, strict=True):
        width = 0.8 / max(len(series), 1)
        for offset, (name, values) in enumerate(series.items()):
            positions = [index + offset * width - 0.4 + width / 2 for index in range(len(groups))]
            bars = axis.bar(positions, values, width, label=name)
            axis.bar_label(bars, [_short(value) for value in values], fontsize=7, rotation=90, padding=2)
        axis.set_xticks(range(len(groups)), groups, rotation=12, ha="right", fontsize=8)
        measured = [value for values in series.values() for value in values if value > 0]
        # A log scale only where values span decades; otherwise bars from zero compare truthfully.
        if measured and max(measured) / min(measured) > LOG_SCALE_SPAN:
            axis.set_yscale("log")
            title += " (log scale)"
        axis.margins(y=0.15)
        axis.set_title(title)
        axis.grid(axis="y", which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"sessionhub benchmark, {results.date}, {results.machine['CPU']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


LOG_SCALE_SPAN = 20


def _short(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


Series = tuple[str, list[str], dict[str, list[float]]]


def _request_series(results: RunResults) -> Series:
    groups = list(dict.fromkeys(r.contender for r in results.requests))
    by_key = {(r.contender, r.scenario, r.concurrency): r.throughput.per_second for r in results.requests}
    series = {
        f"{scenario}, {plural(c, 'client')}": [by_key.get((g, scenario, c), 0.0) for g in groups]
        for scenario in dict.fromkeys(r.scenario for r in results.requests)
        for c in _concurrencies(results.requests)
    }
    return "In-process ASGI requests/s", groups, series


def _op_series(results: RunResults) -> Series:
    keys = list(dict.fromkeys((r.suite, r.op) for r in results.ops))
    by_key = {(r.suite, r.op, r.concurrency): r.throughput.per_second for r in results.ops}
    series = {
        plural(c, "task"): [by_key.get((suite, op, c), 0.0) for suite, op in keys] for c in _concurrencies(results.ops)
    }
    return "Core operations, ops/s", [f"{suite} {op}" for suite, op in keys], series
