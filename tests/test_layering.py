"""The package's import graph has no cycles, counting every import: at module level, inside functions and under
`TYPE_CHECKING`. A cycle means two layers each need the other, so neither can be read, tested or replaced alone."""

from __future__ import annotations

import ast
from pathlib import Path

import sessionhub

PACKAGE_ROOT = Path(sessionhub.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules `name` imports; `from package import module` counts as importing that module."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target not in known:
                continue
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            found.update(submodules or {target})
            if len(submodules) < len(node.names):
                found.add(target)
    found.discard(name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for imported in sorted(graph[module]):
            if imported in on_path:
                return [*path[path.index(imported) :], imported]
            if imported not in done:
                cycle = visit(imported)
                if cycle is not None:
                    return cycle
        path.pop()
        on_path.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle is not None:
                return cycle
    return None


def package_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = package_graph()
    # A lazy import inside a function and a plain module-level one are both edges.
    assert "sessionhub.backends.redis" in graph["sessionhub.backends"]
    assert "sessionhub.manager" in graph["sessionhub.asgi.state"]


def test_no_import_cycles() -> None:
    assert find_cycle(package_graph()) is None


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_store_layer_does_not_reach_up() -> None:
    """Backends know the model and the contract; the manager, the frameworks and the tools sit above them."""
    upper = (
        *("sessionhub.manager", "sessionhub.asgi", "sessionhub.cli", "sessionhub.demo", "sessionhub.migrate"),
        *("sessionhub.sync", "sessionhub.flask", "sessionhub.django", "sessionhub.fastapi"),
    )
    graph = package_graph()
    for module, imported in graph.items():
        if module.startswith("sessionhub.backends"):
            assert not {name for name in imported if name in upper or name.startswith(tuple(f"{u}." for u in upper))}, (
                module
            )
