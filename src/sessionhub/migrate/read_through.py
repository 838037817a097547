"""Read-through: a cut-over with no freeze at all. On a legacy cookie whose session no migration has imported yet,
`SessionManager.adopt_legacy` asks the legacy stores themselves, imports what they hold and adopts it in the same
request; the old and the new application serve side by side while the bulk migration back-fills the rest.

The `legacy_stores` setting names them, one spec each: the source's name, `+`, the legacy store's URL (Redis, or
for django-db a SQLite or PostgreSQL URL), and the `sessionhub migrate` command's options as query parameters
(`prefix`, `user_key`, `serialization`, `kind`, `secret_key_env`):

    starsessions+redis://old-cache:6379/2?prefix=app.&user_key=uid
    flask-session+redis://old-cache:6379/3?secret_key_env=FLASK_SECRET_KEY
    django-db+postgresql://reader@old-db/app?secret_key_env=DJANGO_SECRET_KEY

A legacy store is only read here, never written. One that is down or slow (READ_TIMEOUT) answers "no session" and
the request goes on without it: the user signs in again, nothing fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Literal, cast
from urllib.parse import parse_qs, urlsplit

from sessionhub.errors import ConfigurationError
from sessionhub.legacy import LegacySession, legacy_alias_id
from sessionhub.migrate.readers import LegacyReader, open_reader
from sessionhub.migrate.records import LegacyRecord, RecordError
from sessionhub.migrate.sources import SOURCE_NAMES, MigrationSource, source_named

logger = logging.getLogger("sessionhub.migrate")

READ_TIMEOUT = 0.5
"""Seconds a request waits for a legacy store before going on without it."""

_OPTIONS = ("prefix", "user_key", "serialization", "kind", "secret_key_env")


def parse_spec(spec: str, environ: Mapping[str, str] = os.environ) -> tuple[MigrationSource, str]:
    """The source and the legacy store's URL of one `legacy_stores` spec; ConfigurationError saying what is wrong
    (never echoing the URL, which may hold a password)."""
    name, plus, url = spec.partition("+")
    if not plus or name not in SOURCE_NAMES or name == "json":
        raise ConfigurationError(
            "each legacy_stores entry is <source>+<url>, the source one of "
            + ", ".join(name for name in SOURCE_NAMES if name != "json")
        )
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    options = {key: values[-1] for key, values in query.items() if key in _OPTIONS}
    unknown = sorted(set(query) - set(_OPTIONS))
    if unknown:
        raise ConfigurationError(f"legacy_stores: unknown option {unknown[0]!r} (expected {', '.join(_OPTIONS)})")
    serialization = options.pop("serialization", "msgpack")
    if serialization not in ("msgpack", "json"):
        raise ConfigurationError("legacy_stores: serialization is msgpack or json")
    try:
        source = source_named(
            name,
            serialization=cast(Literal["msgpack", "json"], serialization),
            environ=environ,
            **options,
        )
    except ValueError as exc:
        raise ConfigurationError(f"legacy_stores: {exc}") from None
    return source, url.partition("?")[0]


class LegacyReadThrough:
    """The `LegacyFallback` over legacy stores: one read of the cookie's candidate keys per store, decoded by the
    store's migration source as a migration would (`sessionhub.migrate.sources`)."""

    def __init__(self, stores: Sequence[tuple[MigrationSource, LegacyReader]]) -> None:
        self.stores = list(stores)

    @classmethod
    def from_specs(cls, specs: Sequence[str], environ: Mapping[str, str] = os.environ) -> LegacyReadThrough:
        stores = []
        for spec in specs:
            source, url = parse_spec(spec, environ)
            stores.append((source, open_reader(source.store, url, timeout=READ_TIMEOUT)))
        return cls(stores)

    async def fetch(self, legacy_token: str, now: int) -> LegacySession | None:
        alias_id = legacy_alias_id(legacy_token)
        if alias_id is None:
            return None
        for source, reader in self.stores:
            legacy_id = source.legacy_id(legacy_token)
            if legacy_id is None:
                continue
            spaces = source.keyspaces
            unavailable: tuple[type[Exception], ...] = (*reader.errors, TimeoutError)
            try:
                rows = await asyncio.wait_for(
                    reader.read_keys([f"{space.prefix}{legacy_id}".encode() for space in spaces], now), READ_TIMEOUT
                )
            except unavailable as exc:
                logger.warning(
                    "legacy store %s unreadable (%s): a legacy cookie was not read through",
                    source.name,
                    type(exc).__name__,
                    extra={"event": "legacy_read_through_failed", "error": type(exc).__name__},
                )
                continue
            for space, (key, value, ttl, digest) in zip(spaces, rows, strict=True):
                if not isinstance(value, bytes) or ttl == -2 or digest is None:
                    continue
                record = LegacyRecord(
                    key, legacy_token, alias_id, value, digest.decode(), ttl if ttl >= 0 else None, now
                )
                try:
                    return source.decode_alone(record, space)
                except RecordError as exc:
                    logger.warning(
                        "a legacy record cannot be read through: %s",
                        exc,
                        extra={"event": "legacy_read_through_invalid"},
                    )
                    return None
        return None

    async def close(self) -> None:
        for _, reader in self.stores:
            await reader.aclose()
