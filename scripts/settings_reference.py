"""A mkdocs hook: the settings reference page's table, made from `Settings` itself (each field's environment
variables, default and description), so that it can never disagree with the code."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices
from pydantic_core import PydanticUndefined

from sessionhub.settings import Settings

MARKER = "<!-- settings table -->"


def settings_table() -> str:
    rows = ["| setting | environment | default | what it does |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        variables = alias.choices if isinstance(alias, AliasChoices) else [f"SESSIONHUB_{name.upper()}"]
        default = "unset" if field.default in (None, PydanticUndefined) else f"`{field.default!r}`"
        description = (field.description or "").replace("|", "\\|")
        rows.append(
            f"| `{name}` | {', '.join(f'`{variable}`' for variable in variables)} | {default} | {description} |"
        )
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, settings_table()) if MARKER in markdown else markdown
