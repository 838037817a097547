"""How store numbers are shown to people: the CLI's tables and the demo's operator page say them alike."""

from __future__ import annotations

_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60))


def human_seconds(seconds: float) -> str:
    """A duration for people: the largest unit it is a whole number of ("7 d", "30 min"), else seconds ("1.5 s")."""
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g} {unit}"
    return f"{seconds:g} s"


def stat_text(name: str, value: object) -> str:
    """A stats or health value: durations (by the name: `*_ttl`, `*_seconds`, `*_window`) in units, counts with
    thousands separators, yes and no, "-" for nothing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(stat_text(name, item) for item in value) or "-"
    if not isinstance(value, int | float):
        return str(value)
    if name.endswith(("_ttl", "_seconds", "_window")):
        return human_seconds(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3g}"
