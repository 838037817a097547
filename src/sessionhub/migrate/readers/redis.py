"""A legacy store in one Redis server (SCAN does not walk a cluster): records are string keys, their lifetime the
key's TTL. Each page is one SCAN and one script call (lua/read_batch.lua) that reads value, TTL and digest of every
key; compare-and-delete is one script per key (lua/delete_if_imported.lua), pipelined."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from sessionhub.errors import ConfigurationError
from sessionhub.migrate.readers.base import KeySpace, LegacyReader, Page, Row


def lua(name: str) -> str:
    """The source of sessionhub/migrate/lua/<name>: the scripts run on a legacy Redis."""
    return resources.files("sessionhub.migrate").joinpath("lua", name).read_text(encoding="utf-8")


class RedisReader(LegacyReader):
    store = "redis"
    errors = (RedisError, OSError)

    def __init__(self, client: Redis) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigurationError("the source Redis client needs decode_responses=False (values are bytes)")
        self.client = client
        self._read_batch = client.register_script(lua("read_batch.lua"))
        self._delete_if_imported = client.register_script(lua("delete_if_imported.lua"))

    @property
    def location(self) -> str:
        where = self.client.connection_pool.connection_kwargs
        address = where.get("path") or f"{where.get('host', 'localhost')}:{where.get('port', 6379)}"
        return f"{address}/{where.get('db', 0)}"

    async def page(self, keyspace: KeySpace, cursor: str, count: int, now_ms: int) -> Page:
        after, keys = await self.client.scan(int(cursor or 0), match=keyspace.pattern(), count=count)
        rows = await self.read_keys(cast(list[bytes], keys), now_ms) if keys else []
        return Page(rows, str(after) if after else None)

    async def read_keys(self, keys: Sequence[bytes], now_ms: int) -> list[Row]:
        replies: list[Any] = await self._read_batch(keys=list(keys))
        return list(zip(keys, replies[0::3], replies[1::3], replies[2::3], strict=True))

    async def delete_unchanged(self, imported: Sequence[tuple[bytes, str]]) -> list[bool]:
        if not imported:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for key, digest in imported:
                await self._delete_if_imported(keys=[key], args=[digest], client=pipe)
            return [bool(flag) for flag in await pipe.execute()]

    async def estimate(self) -> int | None:
        """Every key of the database, whatever its prefix: an upper bound."""
        return int(await self.client.dbsize())

    async def aclose(self) -> None:
        await self.client.aclose()
