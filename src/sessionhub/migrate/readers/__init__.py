"""The stores migrations read: one Redis server (`RedisReader`) and Django's database sessions (`SqliteReader`,
`PostgresReader`). `open_reader` picks one for a source's kind of store and a URL."""

from redis.asyncio import Redis

from sessionhub.migrate.readers.base import KeySpace, LegacyReader, Page, Row
from sessionhub.migrate.readers.redis import RedisReader
from sessionhub.migrate.readers.sql import PostgresReader, SqliteReader, SqlReader, sql_reader


def open_reader(store: str, url: str, *, timeout: float) -> LegacyReader:
    """A reader of the kind `store` ("redis", "sql") at `url`, its connections and reads bounded by `timeout`
    seconds for Redis. ConfigurationError when the URL does not fit."""
    if store == "sql":
        return sql_reader(url)
    return RedisReader(
        Redis.from_url(url, decode_responses=False, socket_connect_timeout=min(timeout, 5.0), socket_timeout=timeout)
    )


__all__ = [
    "KeySpace",
    "LegacyReader",
    "Page",
    "PostgresReader",
    "RedisReader",
    "Row",
    "SqlReader",
    "SqliteReader",
    "open_reader",
    "sql_reader",
]
