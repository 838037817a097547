"""Path prefixes as the middleware matches them: an entry covers that path and everything under it."""

from __future__ import annotations

from collections.abc import Iterable


class PathPrefixes:
    """`PathPrefixes(["/static"])` contains "/static" and "/static/app.css" but not "/staticky"."""

    __slots__ = ("_exact", "_prefixes", "_under")

    def __init__(self, prefixes: Iterable[str]) -> None:
        if isinstance(prefixes, str):
            raise TypeError("path prefixes must be a list of paths, not one string")
        prefixes = list(prefixes)
        for prefix in prefixes:
            if not isinstance(prefix, str) or not prefix.startswith("/"):
                raise ValueError(f"path prefixes must start with '/', got {prefix!r}")
        self._prefixes = tuple(prefix.rstrip("/") for prefix in prefixes)
        # Matched on every request: a set lookup and one startswith, however many prefixes there are.
        self._exact = frozenset(self._prefixes)
        self._under = tuple(prefix + "/" for prefix in self._prefixes)

    def __bool__(self) -> bool:
        return bool(self._prefixes)

    def __contains__(self, path: str) -> bool:
        return path in self._exact or path.startswith(self._under)

    def __repr__(self) -> str:
        return f"PathPrefixes({[prefix or '/' for prefix in self._prefixes]!r})"
