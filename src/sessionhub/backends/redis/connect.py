"""A redis-py client for every Redis deployment sessionhub runs on, chosen by the URL's scheme.

    redis://[[user]:password@]host[:port][/db]          one server; rediss:// for TLS, unix:///path/redis.sock
    redis+cluster://[[user]:password@]host:port[,...]    Redis Cluster (or Valkey); any nodes, the rest are discovered
    redis+sentinel://[[user]:password@]host:port[,...]/service[/db]
                                                          the primary that the Sentinels name `service`
    rediss+cluster://, rediss+sentinel://                 the same over TLS

Query parameters are redis-py connection options (`?socket_timeout=1`). The credentials in the URL are those of the
data servers; a Sentinel URL takes the Sentinels' own as `sentinel_username` and `sentinel_password`. `cluster=True`
turns a plain redis:// or rediss:// URL into a cluster one, for platforms that hand out a single endpoint.

Error messages name the scheme at most, never the URL: it may carry a password.
"""

from __future__ import annotations

import inspect
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection

from sessionhub.errors import ConfigurationError

RedisClient = Redis | RedisCluster

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379

_SENTINEL_OWN_OPTIONS = ("sentinel_username", "sentinel_password")


def connect(url: str, *, cluster: bool = False, **options: Any) -> RedisClient:
    """A client for `url`; `options` (redis-py connection options) win over those in the URL's query. Raises
    ConfigurationError for a URL or an option redis-py would refuse, before anything is connected."""
    try:
        client = _client(url, cluster, options)
    except ConfigurationError:
        raise
    except (ValueError, TypeError) as exc:  # redis-py: "Invalid value for 'socket_timeout' in connection URL."
        raise ConfigurationError(f"invalid redis URL option: {exc}") from None
    if isinstance(client, Redis):
        _check_options(client.connection_pool.connection_class, client.connection_pool.connection_kwargs)
    return client


def _check_options(connection_class: type, given: dict[str, Any]) -> None:
    """Refuse options the connection class does not take: redis-py would only fail on the first connection, with a
    TypeError from deep inside the pool."""
    accepted = {
        name for kind in connection_class.__mro__ if "__init__" in vars(kind)
        for name in inspect.signature(vars(kind)["__init__"]).parameters
    }  # fmt: skip
    if issubclass(connection_class, SentinelManagedConnection):
        accepted.add("connection_pool")  # its pool passes itself; the connection takes it from **kwargs
    unknown = sorted(set(given) - accepted)
    if unknown:
        raise ConfigurationError(f"unknown redis URL option(s) {unknown}: see redis-py's connection options")


def _client(url: str, cluster: bool, options: dict[str, Any]) -> RedisClient:
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ConfigurationError("the redis URL must look like redis://host:port/0 (see docs/operations.md)")
    transport, _, topology = scheme.lower().partition("+")
    if transport not in ("redis", "rediss", "unix") or topology not in ("", "cluster", "sentinel"):
        raise ConfigurationError(f"unsupported redis URL scheme {scheme!r} (see docs/operations.md)")
    if transport == "unix" and (topology or cluster):
        raise ConfigurationError("a unix socket URL names one server, not a cluster or Sentinel group")
    if topology == "sentinel":
        if cluster:
            raise ConfigurationError("a redis+sentinel:// URL cannot also be a cluster")
        return _sentinel_primary(transport, rest, options)
    if topology == "cluster" or cluster:
        return _cluster(transport, rest, options)
    return Redis.from_url(url, **options)


def _cluster(transport: str, rest: str, options: dict[str, Any]) -> RedisCluster:
    nodes, path, settings = _parse(transport, rest, DEFAULT_PORT)
    if path.strip("/") not in ("", "0"):
        raise ConfigurationError("Redis Cluster has only database 0; drop the /db part of the URL")
    settings.update(options)
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes], **settings)


def _sentinel_primary(transport: str, rest: str, options: dict[str, Any]) -> Redis:
    sentinels, path, settings = _parse(transport, rest, DEFAULT_SENTINEL_PORT)
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ConfigurationError("a redis+sentinel:// URL needs the service name: redis+sentinel://host:port/name")
    if db:
        if not db.isdigit():
            raise ConfigurationError("the database after the Sentinel service name must be a number")
        settings["db"] = int(db)
    settings.update(options)
    # Timeouts and TLS apply to the Sentinels too; credentials only when given for them.
    sentinel_settings = {k: v for k, v in settings.items() if k.startswith(("socket_", "ssl"))}
    for name in _SENTINEL_OWN_OPTIONS:
        if name in settings:
            sentinel_settings[name.removeprefix("sentinel_")] = settings.pop(name)
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_settings, **settings)  # type: ignore[no-untyped-call]
    primary: Redis = manager.master_for(service, redis_class=Redis)
    return primary


def _parse(transport: str, rest: str, default_port: int) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """Hosts, path and connection options of a URL that may name several hosts, as `host:port,host:port`.

    redis-py parses the options (credentials, query) from the same URL reduced to one host, so that they mean
    exactly what they mean in a redis:// URL; the cluster and Sentinel clients pick their own connection classes.
    """
    parts = urlsplit(f"{transport}://{rest}")
    credentials, _, hosts = parts.netloc.rpartition("@")
    addresses = [_address(host, default_port) for host in hosts.split(",")]
    single = f"{transport}://{credentials + '@' if credentials else ''}localhost?{parts.query}"
    settings: dict[str, Any] = dict(parse_url(single))
    for name in ("host", "port", "db", "connection_class"):
        settings.pop(name, None)
    if transport == "rediss":
        settings["ssl"] = True
    return addresses, parts.path, settings


def _address(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, port = text[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = text.partition(":")
    if not host or (port and not port.isdigit()):
        raise ConfigurationError("every host of a redis URL must be host or host:port")
    return host, int(port) if port else default_port
