"""Django's database sessions: the `django_session` table (session_key, session_data, expire_date), in a SQLite file
or a PostgreSQL database. Pages are walked in key order from the last key read (keyset pagination: rows written
meanwhile are neither skipped nor read twice), and compare-and-delete is one transaction that locks the rows,
compares their digests and deletes the unchanged ones.

    sqlite:///relative/db.sqlite3    sqlite:////srv/app/db.sqlite3    postgresql://user@host:5432/app

SQLite is read through the standard library in a worker thread; PostgreSQL through psycopg (the `postgres` extra).
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sessionhub.errors import ConfigurationError
from sessionhub.migrate.readers.base import KeySpace, LegacyReader, Page, Row

DJANGO_TABLE = "django_session"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GONE = (None, -2, None)


@dataclass(frozen=True, slots=True)
class _Queries:
    """The statements a reader runs, for one table (a checked identifier: the only text put into them) and one
    database's way of passing a list of keys (`keys`: a parameter matching any of them)."""

    page: str
    by_keys: str
    lock_by_keys: str
    delete_by_keys: str
    count: str

    @classmethod
    def of(cls, table: str, placeholder: str, keys: str, lock: str) -> _Queries:
        if not _IDENTIFIER.fullmatch(table):
            raise ConfigurationError(f"{table!r} is not a plain SQL table name")
        columns = f"SELECT session_key, session_data, expire_date FROM {table}"  # noqa: S608
        return cls(
            page=f"{columns} WHERE session_key > {placeholder} ORDER BY session_key LIMIT {placeholder}",
            by_keys=f"{columns} WHERE session_key {keys}",
            lock_by_keys=f"SELECT session_key, session_data FROM {table} WHERE session_key {keys}{lock}",  # noqa: S608
            delete_by_keys=f"DELETE FROM {table} WHERE session_key {keys}",  # noqa: S608
            count=f"SELECT count(*) FROM {table}",  # noqa: S608
        )


class SqlReader(LegacyReader):
    """The table's rows as records keyed `<table>:<session_key>`, their lifetime up to `expire_date` (a naive
    datetime, as Django stores it with USE_TZ, is UTC)."""

    store = "sql"

    def __init__(self, table: str, queries: _Queries) -> None:
        self.table = table
        self.prefix = f"{table}:"
        self._queries = queries

    async def page(self, keyspace: KeySpace, cursor: str, count: int, now_ms: int) -> Page:
        found = await self._select(self._queries.page, (cursor, count))
        rows = [self._row(key, data, expires, now_ms) for key, data, expires in found]
        return Page(rows, found[-1][0] if len(found) == count else None)

    async def read_keys(self, keys: Sequence[bytes], now_ms: int) -> list[Row]:
        wanted = self._session_keys(keys)
        found = await self._select(self._queries.by_keys, (self._key_list(wanted),))
        rows = {key: self._row(key, data, expires, now_ms) for key, data, expires in found}
        return [rows.get(session_key) or (key, *_GONE) for key, session_key in zip(keys, wanted, strict=True)]

    async def delete_unchanged(self, imported: Sequence[tuple[bytes, str]]) -> list[bool]:
        if not imported:
            return []
        session_keys = self._session_keys([key for key, _ in imported])
        expected = dict(zip(session_keys, (digest for _, digest in imported), strict=True))
        deleted = await self._compare_and_delete(expected)
        return [session_key in deleted for session_key in session_keys]

    async def estimate(self) -> int | None:
        [(count,)] = await self._select(self._queries.count, ())
        return int(count)

    # -- what each database does its own way ---------------------------------------------------------------------

    @abc.abstractmethod
    async def _select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    async def _compare_and_delete(self, expected: dict[str, str]) -> set[str]:
        """In one transaction: delete the rows whose data's digest is `expected[session_key]`; their keys."""

    @staticmethod
    @abc.abstractmethod
    def _key_list(keys: list[str]) -> Any:
        """The parameter for the `keys` of the queries."""

    # -- helpers -------------------------------------------------------------------------------------------------

    def _session_keys(self, keys: Sequence[bytes]) -> list[str]:
        prefix = self.prefix.encode()
        if not all(key.startswith(prefix) for key in keys):
            raise ValueError(f"keys of this reader start with {self.prefix!r}")
        return [key[len(prefix) :].decode() for key in keys]

    def _row(self, session_key: str, data: str, expires: datetime | str, now_ms: int) -> Row:
        value = data.encode()
        if isinstance(expires, str):
            expires = datetime.fromisoformat(expires)
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        remaining = int(expires.timestamp() * 1000) - now_ms
        key = f"{self.prefix}{session_key}".encode()
        if remaining <= 0:
            return (key, *_GONE)  # past expire_date: Django no longer serves it, clearsessions has not run yet
        return key, value, remaining, _digest(value).encode()

    @staticmethod
    def _unchanged(found: Sequence[tuple[str, str]], expected: dict[str, str]) -> list[str]:
        return [key for key, data in found if _digest(data.encode()) == expected[key]]


def _digest(value: bytes) -> str:
    """The digest import markers keep, as lua/read_batch.lua computes it on a legacy Redis."""
    return hashlib.sha1(value, usedforsecurity=False).hexdigest()


class SqliteReader(SqlReader):
    errors = (sqlite3.Error, OSError)

    def __init__(self, path: str | Path, table: str = DJANGO_TABLE) -> None:
        # A list of keys is one JSON array, expanded by SQLite's json_each.
        super().__init__(table, _Queries.of(table, "?", "IN (SELECT value FROM json_each(?))", lock=""))
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise ConfigurationError(f"no SQLite database at {self.path}")
        # One connection, used by one worker thread at a time.
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return f"sqlite:{self.path}"

    @staticmethod
    def _key_list(keys: list[str]) -> Any:
        return json.dumps(keys)

    async def _select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        def select() -> list[tuple[Any, ...]]:
            with self._lock:
                return self._connection.execute(sql, params).fetchall()

        return await asyncio.to_thread(select)

    async def _compare_and_delete(self, expected: dict[str, str]) -> set[str]:
        def compare_and_delete() -> set[str]:
            with self._lock:
                connection = self._connection
                connection.execute("BEGIN IMMEDIATE")  # the write lock first: nobody writes between read and delete
                try:
                    found = connection.execute(self._queries.lock_by_keys, (self._key_list(list(expected)),))
                    unchanged = self._unchanged(found.fetchall(), expected)
                    if unchanged:
                        connection.execute(self._queries.delete_by_keys, (self._key_list(unchanged),))
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
                return set(unchanged)

        return await asyncio.to_thread(compare_and_delete)

    async def aclose(self) -> None:
        self._connection.close()


class PostgresReader(SqlReader):
    def __init__(self, url: str, table: str = DJANGO_TABLE) -> None:
        # The rows to delete are locked (FOR UPDATE) until the transaction ends: nobody writes them in between.
        super().__init__(table, _Queries.of(table, "%s", "= ANY(%s)", lock=" FOR UPDATE"))
        try:
            import psycopg
        except ImportError:
            raise ConfigurationError("reading PostgreSQL needs psycopg: pip install 'sessionhub[postgres]'") from None
        self._psycopg = psycopg
        self.errors = (psycopg.Error, OSError)
        self.url = url
        self._connection: Any = None
        self._connecting = asyncio.Lock()

    @property
    def location(self) -> str:
        parts = urlsplit(self.url)
        return f"postgresql://{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"

    @staticmethod
    def _key_list(keys: list[str]) -> Any:
        return keys

    async def _connected(self) -> Any:
        async with self._connecting:
            if self._connection is None or self._connection.closed:
                self._connection = await self._psycopg.AsyncConnection.connect(self.url, autocommit=True)
            return self._connection

    async def _select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        connection = await self._connected()
        async with connection.cursor() as cursor:
            await cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
            return rows

    async def _compare_and_delete(self, expected: dict[str, str]) -> set[str]:
        connection = await self._connected()
        async with connection.transaction(), connection.cursor() as cursor:
            await cursor.execute(self._queries.lock_by_keys, (list(expected),))
            unchanged = self._unchanged(await cursor.fetchall(), expected)
            if unchanged:
                await cursor.execute(self._queries.delete_by_keys, (unchanged,))
        return set(unchanged)

    async def aclose(self) -> None:
        if self._connection is not None:
            await self._connection.close()


def sql_reader(url: str, table: str = DJANGO_TABLE) -> SqlReader:
    """The reader for a `sqlite:///path` or `postgresql://...` URL; ConfigurationError for anything else."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigurationError("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
        return SqliteReader(path, table)
    if scheme in ("postgresql", "postgres"):
        return PostgresReader(url, table)
    raise ConfigurationError("Django's database sessions are read from a sqlite:/// or postgresql:// URL")
