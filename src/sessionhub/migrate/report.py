"""What a migration, a verification and a source clean-up found, as numbers and as lists of named records.

Records are named by a `ref`: the key prefix and the record's alias id, never the legacy id in its key, which is
the user's cookie value. `sessionhub.legacy.legacy_alias_id(<id>)` finds the ref of a known key; an invalid record
also carries a `hint` (`record_hint`) to find it by.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson


def record_ref(prefix: str, alias_id: str | None) -> str:
    return f"{prefix}<{alias_id or 'unusable id'}>"


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A legacy record left where it was, and why."""

    ref: str
    reason: str
    hint: str = ""
    """What an operator can find the record by, none of it secret (`record_hint`)."""


_USER_FIELDS = ("user_id", "user", "uid", "userId", "_auth_user_id")
_CREATED_FIELDS = ("created_at", "created", "createdAt")
_HINT_TEXT = 64


def record_hint(value: bytes | list[bytes] | None, ttl_ms: int, digest: str | None) -> str:
    """A few facts about a legacy record that do not give its cookie away: the user and creation time a JSON record
    names, its size, TTL and digest prefix (read_batch.lua's SHA-1 of the value). Never the key, whose id is the
    cookie, and never a field that may hold it."""
    facts = []
    if isinstance(value, list):
        facts.append(f"a {value[0].decode(errors='replace')} key")
    elif value is not None:
        try:
            document = orjson.loads(value)
        except orjson.JSONDecodeError:
            document = None
        if isinstance(document, dict):
            for label, names in (("user", _USER_FIELDS), ("created", _CREATED_FIELDS)):
                found = next((document[name] for name in names if isinstance(document.get(name), str | int)), None)
                if found is not None and not isinstance(found, bool):
                    facts.append(f"{label} {str(found)[:_HINT_TEXT]}")
        facts.append(f"{len(value):,} bytes")
    facts.append(f"TTL {ttl_ms // 1000:,} s" if ttl_ms >= 0 else "no TTL")
    if digest:
        facts.append(f"sha1 {digest[:12]}")
    return ", ".join(facts)


@dataclass(slots=True)
class MigrationReport:
    source: str
    dry_run: bool
    scanned: int = 0
    migrated: int = 0
    """Stored by this migration (in a dry run: would be stored)."""
    updated: int = 0
    """Changed in the legacy store since their import, and brought up to date (still waiting for their browser)."""
    already_migrated: int = 0
    expired: int = 0
    """Ended in the legacy store before they could be moved (or with under a second left)."""
    invalid: list[InvalidRecord] = field(default_factory=list)
    conflicts: list[InvalidRecord] = field(default_factory=list)
    """Changed in the legacy store after their session was adopted or ended in sessionhub: sessionhub's copy wins."""
    ended_in_source: int = 0
    """Waiting for their browser, but deleted in the legacy store since their import (a logout there): ended."""
    kinds: Counter[str] = field(default_factory=Counter)
    """Migrated sessions per kind."""
    batches: int = 0
    resumed: bool = False
    completed: bool = False
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        """Records handled per second in this run."""
        return self.scanned / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["kinds"] = dict(self.kinds)
        result["rate"] = round(self.rate, 1)
        return result


@dataclass(slots=True)
class VerifyReport:
    """Counts every live legacy record against sessionhub, and compares a sample of them field by field."""

    source_sessions: int = 0
    pending: int = 0
    """Migrated and waiting for their browser."""
    adopted: int = 0
    ended: int = 0
    """Migrated, then expired or revoked in sessionhub."""
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    """Waiting for their browser, with a legacy record changed since their import: run the migration again."""
    conflicts: int = 0
    """Changed in the legacy store after their session was adopted or ended in sessionhub (not a failure)."""
    sampled: int = 0
    mismatched: list[InvalidRecord] = field(default_factory=list)
    invalid: int = 0

    @property
    def migrated(self) -> int:
        return self.pending + self.adopted + self.ended

    @property
    def ok(self) -> bool:
        return not self.missing and not self.stale and not self.mismatched and self.migrated == self.source_sessions

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "migrated": self.migrated, "ok": self.ok}


@dataclass(slots=True)
class DeleteReport:
    deleted: int = 0
    kept_not_migrated: int = 0
    kept_invalid: int = 0
    kept_changed: int = 0
    """Holding something else than what was imported: the legacy application changed them since (even while this
    pass ran)."""
    kept: list[InvalidRecord] = field(default_factory=list)
    """The records kept because they changed since their import, each with why (named, never by cookie)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
