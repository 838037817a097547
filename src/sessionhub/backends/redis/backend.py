"""RedisBackend: every session operation one atomic Lua script (lua/) and one round trip, on one server, a
Sentinel-managed primary or a Redis Cluster.

The scripts and keys are the same on all three. Every key of a session and of a user shares one hash tag
(keys.py), so each script runs in one slot; the one operation that spans two slots, a login from a session in
another bucket, runs as three steps on Redis Cluster (`RedisBackend.login`). Times are milliseconds from the
caller's clock, passed in, so that all backends judge expiry alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Self, TypeVar, cast

import orjson
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, RedisClusterException, ResponseError

from sessionhub.backends.base import (
    ADOPTED,
    MAX_ROTATION_HOPS,
    NO_AUDIT,
    ROTATED_AWAY,
    Audit,
    ImportedSession,
    ImportMarker,
    ImportOutcome,
    ImportStatus,
    RotatedAway,
    SessionBackend,
    SharedAbuseCounter,
    UserLimit,
)
from sessionhub.backends.redis.client_cache import tracked_cache_for
from sessionhub.backends.redis.codec import (
    audit_args,
    data_fields,
    event_of,
    limit_args,
    record_fields,
    record_from_hash,
    record_of,
)
from sessionhub.backends.redis.connect import RedisClient, connect
from sessionhub.backends.redis.failures import FAILURES, LIMIT_REFUSED, refused_now, unavailable
from sessionhub.backends.redis.keys import KeyLayout
from sessionhub.backends.redis.scripts import LuaScript, script
from sessionhub.backends.redis.sentinel import follow_primary
from sessionhub.errors import BackendUnavailable, ConfigurationError, SessionDataError, SessionLimitExceeded
from sessionhub.events import SecurityEvent
from sessionhub.model import ConversationRecord, DataChanges, SessionRecord, check_storable, is_live_at, utc
from sessionhub.settings import DEFAULT_CLIENT_CACHE, DEFAULT_MAX_CONNECTIONS
from sessionhub.tokens import all_buckets, bucket_for_user, bucket_of

logger = logging.getLogger("sessionhub")

T = TypeVar("T")

RESENDS = 3
"""How many times a call whose connection broke is sent again, at once, on a new connection. A broken connection
fails fast (a refused connect takes microseconds), so a Redis that is down costs little more; a Redis that drops
its clients (a restart, CLIENT KILL, a proxy failing over) costs a reconnect."""

CACHE_START_WAIT = 2.0
"""How long `open` waits for the client cache's tracking connection before going on without it (it keeps trying)."""

SCRIPTS = (
    "touch", "create", "update", "rotate", "login", "carry", "read_messages", "put_messages", "delete", "list_user",
    "delete_user", "report_reuse", "flag_risk", "append_message", "load_conversation", "restore", "import", "adopt",
    "count_unknown_token",
)  # fmt: skip
"""The scripts of lua/ this backend runs, registered once per client."""

Keys = Mapping[str, str | None]
Args = Mapping[str, Any]


def _connection_refused(cause: ResponseError) -> str:
    """What a server's refusal to set up the connection (SELECT, AUTH, the Sentinel query) means for the URL; Redis's
    messages never repeat the credentials."""
    text = str(cause)
    if "DB index is out of range" in text:
        return "redis has no such database: the URL's /<db> is past the server's `databases` setting"
    if "unknown command 'SENTINEL'" in text:
        return "the URL names a Sentinel group, but the server it reached is not a Sentinel (use redis:// for it)"
    return f"redis refused the connection: {text}"


def _live_record(session_id: str, fields: dict[bytes, bytes], now: int) -> SessionRecord | None:
    """The session an HGETALL of its hash returned, if it is live at `now` (an empty reply: no such session)."""
    if b"e" not in fields:
        return None
    record = record_of(session_id, [item for pair in fields.items() for item in pair])
    return record if record.is_live(now) else None


class RedisBackend(SessionBackend, SharedAbuseCounter):
    """Sessions in one Redis server, a Sentinel-managed primary (`redis.asyncio.Redis` from `Sentinel.master_for`)
    or a Redis Cluster (`redis.asyncio.cluster.RedisCluster`)."""

    name = "redis"

    def __init__(
        self,
        client: RedisClient,
        *,
        key_prefix: str = "sessionhub",
        owns_client: bool = False,
        client_cache: int = DEFAULT_CLIENT_CACHE,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        connection_wait: float = 2.0,
        resend: bool = True,
    ) -> None:
        """`client_cache`: how many session records to keep in process memory between reads, invalidated by Redis
        (client_cache.py); 0 turns the cache off. It applies to a single server; on a cluster or behind Sentinel
        every read goes to Redis.

        `max_connections`: calls in flight at once; the others wait in line for one to finish, for as long as Redis
        keeps answering: a caller gives up (BackendUnavailable) when no call has been answered for `connection_wait`
        seconds, since Redis is then stuck rather than busy. Size the client's pool to it (`from_url` does), so that
        the pool never refuses a connection. `resend`: a call whose connection broke before its reply is sent again on
        a new one (up to RESENDS times); the scripts make that safe (scripts.py, `ONCE`)."""
        if client.get_encoder().decode_responses:
            raise ConfigurationError("RedisBackend needs a client with decode_responses=False (data is bytes)")
        if client_cache < 0:
            raise ConfigurationError("client_cache must be 0 (off) or more")
        if max_connections < 1 or connection_wait <= 0:
            raise ConfigurationError("max_connections must be 1 or more and connection_wait positive")
        self.client = client
        self.keys = KeyLayout(key_prefix)
        self._owns_client = owns_client
        self._cluster = isinstance(client, RedisCluster)
        self.cache = tracked_cache_for(client, self.keys.everything, client_cache)
        self._follower: asyncio.Task[None] | None = None
        self._scripts: dict[str, tuple[LuaScript, AsyncScript]] = {
            name: (script(name), client.register_script(script(name).source)) for name in SCRIPTS
        }
        self.max_connections = max_connections
        self.connection_wait = connection_wait
        self._resends = RESENDS if resend else 0
        self._connections = asyncio.Semaphore(max_connections)
        self._counts = {"connection_waits": 0, "connection_waits_given_up": 0, "resent_calls": 0}
        self._connection_wait_seconds = 0.0
        self._last_answer = 0.0
        """When Redis last answered a call (time.monotonic)."""
        # Operation ids only need to differ between the calls of one deployment within OPERATION_REPLY_TTL.
        self._operation_prefix = secrets.token_hex(6)
        self._operation_serials = itertools.count()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key_prefix: str = "sessionhub",
        cluster: bool = False,
        client_cache: int = DEFAULT_CLIENT_CACHE,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        **client_options: Any,
    ) -> Self:
        """A backend on its own connections to a server, Sentinel group or cluster, as the URL's scheme says
        (connect.py). `client_options` are redis-py connection options."""
        options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0, "health_check_interval": 30}
        if cluster or url.lower().partition("://")[0].endswith("+cluster"):
            # redis-py's cluster client re-sends a command after a node failed or the cluster was down, once it has
            # re-read the topology (safe: see `resend`), a few times, soon. A MOVED reply only updates that slot's
            # owner: re-reading the whole topology every few MOVED (the default) closed connections still in use
            # while slots were resharded.
            options["retry"] = Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 3)
            options["reinitialize_steps"] = 0
        else:
            # No blind retry inside redis-py: `_call` sends a call again after a broken connection only (a timeout is
            # not retried: a hung server would cost twice the timeout).
            options["retry"] = Retry(NoBackoff(), 0)
        options.update(client_options)
        options["decode_responses"] = False
        options["max_connections"] = max_connections
        client = connect(url, cluster=cluster, **options)
        wait = float(options["socket_timeout"] or 2.0)
        return cls(
            client, key_prefix=key_prefix, owns_client=True, client_cache=client_cache,
            max_connections=max_connections, connection_wait=wait,
        )  # fmt: skip

    async def open(self) -> None:
        async def load_scripts() -> None:
            for _, registered in self._scripts.values():
                await self.client.script_load(registered.script)  # on a cluster: into every primary

        try:
            await self._call(self.client.ping)
        except BackendUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, ResponseError) and not refused_now(cause):
                raise ConfigurationError(_connection_refused(cause)) from None
            if isinstance(cause, RedisClusterException) and "Cluster mode is not enabled" in str(cause):
                raise ConfigurationError(
                    "the URL names a Redis Cluster, but the server it reached is not in cluster mode (use redis://)"
                ) from None
            raise
        try:
            await self._call(load_scripts)
        except BackendUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, ResponseError) and not refused_now(cause):
                raise ConfigurationError(
                    f"redis refused sessionhub's scripts ({cause}); they need Redis 7.0+ (or Valkey) and EVALSHA"
                ) from None
            raise
        pool = getattr(self.client, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool) and self._follower is None:
            self._follower = asyncio.create_task(follow_primary(pool), name="sessionhub-follow-sentinel-primary")
        if self.cache is not None:
            await self.cache.start(wait=CACHE_START_WAIT)

    async def close(self) -> None:
        if self.cache is not None:
            await self.cache.stop()
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        if not self._owns_client:
            return
        await self.client.aclose()
        pool = getattr(self.client, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool):
            for sentinel in pool.sentinel_manager.sentinels:
                await sentinel.aclose()

    async def _run(
        self,
        name: str,
        keys: Mapping[str, Any],
        args: Args,
        rest: Sequence[Any] = (),
        *,
        writes: bool = True,
        client: Any = None,
    ) -> Any:
        """Run lua/<name>.lua with its keys (a key, None for an optional one left out, a list for `...keys`) and
        arguments named as it declares them. One that `writes` first drops
        the cached copies of the keys it names (read your writes). With `client` (a pipeline, or the cluster client
        inside a `_call`), send it there and leave the failures to the caller."""
        declared, registered = self._scripts[name]
        if declared.once:
            keys = {"op": self._operation_key(keys), **keys}
        key_list, arg_list = declared.call(keys, args, rest)
        if writes:
            self._forget(key_list)
        if client is not None:
            return await registered(keys=key_list, args=arg_list, client=client)
        return await self._call(lambda: registered(keys=key_list, args=arg_list))

    def _operation_key(self, keys: Mapping[str, Any]) -> str:
        """A key for a `ONCE` script's reply, unique to the call, in the slot of its other keys (their tag)."""
        first = next(key for key in keys.values() if key)
        return self.keys.operation(first, f"{self._operation_prefix}{next(self._operation_serials):x}")

    async def _call(self, send: Callable[[], Awaitable[T]]) -> T:
        """Every command of this backend goes through here: it waits for one of the `max_connections`, sends the
        command again if the connection broke before the reply (every script is safe to resend, scripts.py), and
        turns every failure of the client into BackendUnavailable (or SessionLimitExceeded)."""
        await self._take_connection()
        try:
            for _ in range(self._resends):
                try:
                    reply = await send()
                    break
                except _BROKEN_CONNECTION as exc:
                    _log_unexpected(exc)
                    self._counts["resent_calls"] += 1
            else:
                reply = await send()
            self._last_answer = time.monotonic()
            return reply
        except (UnicodeError, DataError) as exc:
            # Refused by the client before anything was sent (text no Redis string holds, a value of no Redis type).
            raise SessionDataError(f"redis cannot store the value: {type(exc).__name__}") from None
        except ResponseError as exc:
            self._last_answer = time.monotonic()
            if str(exc).startswith(LIMIT_REFUSED):
                raise SessionLimitExceeded("the user is at the session limit and the policy is reject") from None
            # A command refused by the server (READONLY replica after a failover, OOM, NOREPLICAS): the store cannot
            # serve.
            raise unavailable(exc) from exc
        except FAILURES as exc:
            raise unavailable(exc) from exc
        except Exception as exc:
            # Not a Redis error, but raised by the client mid-call: redis-py's cluster client closes the connections
            # of calls in flight when it re-reads the topology ('NoneType' object has no attribute 'writelines').
            _log_unexpected(exc)
            raise BackendUnavailable(f"the redis client failed: {type(exc).__name__}") from exc
        finally:
            self._connections.release()

    async def _take_connection(self) -> None:
        """One of the `max_connections`: at once when one is free, else in line (first come, first served) until
        one is, or until Redis has answered nothing for `connection_wait` seconds."""
        connections = self._connections
        if not connections.locked():
            await connections.acquire()  # free: returns at once
            return
        started = time.monotonic()
        self._counts["connection_waits"] += 1
        acquiring = asyncio.ensure_future(connections.acquire())  # keeps its place in line while we look at the time
        try:
            while not acquiring.done():
                silent_for = time.monotonic() - max(self._last_answer, started)
                if silent_for >= self.connection_wait:
                    self._counts["connection_waits_given_up"] += 1
                    raise BackendUnavailable(
                        f"redis answered no call for {self.connection_wait:g} s while callers waited for one of its "
                        f"{self.max_connections} connections"
                    )
                await asyncio.wait((acquiring,), timeout=self.connection_wait - silent_for)
        except BaseException:
            if not acquiring.cancel() and not acquiring.cancelled() and acquiring.exception() is None:
                connections.release()  # it came free just as we gave up
            raise
        finally:
            self._connection_wait_seconds += time.monotonic() - started

    def _forget(self, keys: Iterable[str]) -> None:
        if self.cache is not None:
            self.cache.invalidate(keys)

    def _forget_sessions(self, session_ids: Iterable[str]) -> None:
        """Drop the cached copies of sessions a script ended that the caller could not name beforehand."""
        self._forget(self.keys.session(session_id) for session_id in session_ids)

    def _session_keys(self, session_id: str) -> dict[str, str | None]:
        """The session and bucket index keys most scripts start from."""
        return {"session": self.keys.session(session_id), "index": self.keys.index(bucket_of(session_id))}

    # -- the contract -------------------------------------------------------------------------------------------

    def cached(self, session_id: str, now: int, touch_interval: int) -> SessionRecord | None:
        if self.cache is None or not touch_interval:
            return None
        return self.cache.fresh(self.keys.session(session_id), now, touch_interval, count_miss=False)

    async def load(self, session_id: str, now: int, *, touch_interval: int = 0) -> SessionRecord | RotatedAway | None:
        key = self.keys.session(session_id)
        # With a touch interval of 0 every read writes: nothing would stay cached.
        cache = self.cache if touch_interval else None
        read = None
        if cache is not None:
            cached = cache.fresh(key, now, touch_interval)
            if cached is not None:
                return cached
            read = cache.begin(key)
        stored = None
        try:
            # One plain command, the rules checked here: a script would cost Redis ten times the HGETALL it wraps.
            fields = cast(dict[bytes, bytes], await self._call(lambda: self.client.hgetall(key)))
            if not fields:  # no session: was it rotated away? (its marker is in the same bucket)
                rotated = await self._call(lambda: self.client.exists(self.keys.rotated_from(session_id)))
                return ROTATED_AWAY if rotated else None
            record = record_from_hash(session_id, fields)
            if record.is_live(now) and not record.touch_due(now, touch_interval):
                stored = record
                return record
            # A touch is due, or the session is past a deadline by this caller's clock before Redis expired it: the
            # script slides the deadline, or forgets the session (its messages and index entries with it).
            bucket = bucket_of(session_id)
            touched = await self._run(
                "touch",
                {"session": key, "index": self.keys.index(bucket)},
                {"now": now, "id": session_id, "tag": self.keys.tag(bucket), "touch_interval": touch_interval},
                writes=False,
            )
            # A read that wrote is not cached: its own invalidation would drop it.
            return record_of(session_id, touched) if touched is not None else None
        finally:
            if cache is not None and read is not None:
                cache.complete(read, stored)

    async def create(
        self, record: SessionRecord, limit: UserLimit | None, now: int, *, audit: Audit = NO_AUDIT
    ) -> list[str]:
        check_storable(record.user_id, record.data)
        keys = {**self._session_keys(record.id), "user": self._user_key(record.user_id)}
        args = {
            "now": now, "id": record.id, "tag": self.keys.tag(bucket_of(record.id)), **limit_args(limit),
            "idle_deadline": record.expires_at, "absolute_deadline": record.absolute_expires_at,
            "user": record.user_id or "", "audit": audit_args(audit),
        }  # fmt: skip
        evicted = [session_id.decode() for session_id in await self._run("create", keys, args, record_fields(record))]
        self._forget_sessions(evicted)
        return evicted

    async def update(self, session_id: str, changes: DataChanges, now: int) -> bool:
        check_storable(None, changes.updated)
        changed, removed = data_fields(changes)
        args = {"now": now, "id": session_id, "tag": self._tag(session_id), "changed_count": len(changes.updated)}
        return bool(await self._run("update", self._session_keys(session_id), args, [*changed, *removed]))

    async def rotate(
        self, session_id: str, new_session_id: str, now: int, *, audit: Audit = NO_AUDIT
    ) -> SessionRecord | None:
        keys = {
            **self._session_keys(session_id),
            "new_session": self.keys.session(new_session_id),
            "rotated_from": self.keys.rotated_from(session_id),
        }
        args = {"now": now, "id": session_id, "new_id": new_session_id, "tag": self._tag(session_id)}
        fields = await self._run("rotate", keys, {**args, "audit": audit_args(audit)})
        return record_of(new_session_id, fields) if fields is not None else None

    async def login(
        self,
        previous_id: str | None,
        record: SessionRecord,
        limit: UserLimit | None,
        now: int,
        *,
        changes: DataChanges | None = None,
        audit: Audit = NO_AUDIT,
    ) -> tuple[SessionRecord, list[str]]:
        """One script, except on Redis Cluster when the previous session is in another bucket (it is anonymous or
        another user's): then three steps, one slot each. Read what carries over, sign in, delete the previous
        session (with a conversation that carries over, two more before the delete: read it, write it). A refused
        or failed sign-in leaves the previous session as it was; a failed delete leaves it to its idle timeout,
        holding no sign-in of this user. A save to it between the steps does not carry over."""
        assert record.user_id is not None
        check_storable(record.user_id, itertools.chain(record.data, changes.updated if changes else ()))
        keys: dict[str, str | None] = {**self._session_keys(record.id), "user": self.keys.user(record.user_id)}
        new_fields = record_fields(record)
        changed, removed = data_fields(changes or DataChanges())
        across_slots = self._cluster and previous_id is not None and bucket_of(previous_id) != bucket_of(record.id)
        named_previous = previous_id or ""
        carried: list[bytes] = []
        if previous_id is not None and across_slots:
            previous_keys = {"previous": self.keys.session(previous_id), "previous_index": self._index(previous_id)}
            carry_args = {"now": now, "previous_id": previous_id, "previous_tag": self._tag(previous_id)}
            carried = await self._run("carry", previous_keys, {**carry_args, "user": record.user_id}, removed)
            new_fields += carried
            if not carried:  # someone else's or ended: the changes go nowhere, as in the one-script case
                changed = []
                named_previous = ""
        elif previous_id is not None:
            keys |= {"previous": self.keys.session(previous_id), "previous_index": self._index(previous_id)}
        args = {
            "now": now, "id": record.id, "tag": self._tag(record.id), **limit_args(limit),
            "idle_deadline": record.expires_at, "absolute_deadline": record.absolute_expires_at,
            "user": record.user_id, "previous_id": named_previous,
            "previous_tag": self._tag(previous_id) if previous_id is not None else "", "audit": audit_args(audit),
            "field_count": len(new_fields), "change_count": len(changed),
        }  # fmt: skip
        fields, evicted = await self._run("login", keys, args, [*new_fields, *changed, *removed])
        if previous_id is not None and across_slots:
            if carried:
                await self._carry_messages(previous_id, record, now)
            try:
                await self._run("delete", self._session_keys(previous_id), self._delete_args(previous_id, now))
            except BackendUnavailable as exc:
                logger.warning(
                    "session %s outlives the login that replaced it: %s",
                    previous_id,
                    exc,
                    extra={"event": "replaced_session_kept", "session_id": previous_id, "error": type(exc).__name__},
                )
        evicted_ids = [session_id.decode() for session_id in evicted]
        self._forget_sessions(evicted_ids)
        return record_of(record.id, fields), evicted_ids

    async def _carry_messages(self, previous_id: str, record: SessionRecord, now: int) -> None:
        try:
            messages = await self._run("read_messages", {"messages": self.keys.messages(previous_id)}, {})
            if messages:
                ttl = {"ttl": record.expires_at - now}
                await self._run("put_messages", {"messages": self.keys.messages(record.id)}, ttl, messages)
        except BackendUnavailable as exc:
            logger.warning(
                "the conversation of session %s did not follow its login: %s",
                previous_id,
                exc,
                extra={"event": "conversation_not_moved", "session_id": previous_id, "error": type(exc).__name__},
            )

    async def delete(self, session_id: str, now: int, *, audit: Audit = NO_AUDIT) -> bool:
        args = self._delete_args(session_id, now, audit)
        return bool(await self._run("delete", self._session_keys(session_id), args))

    def _delete_args(self, session_id: str, now: int, audit: Audit = NO_AUDIT) -> dict[str, Any]:
        return {"now": now, "id": session_id, "tag": self._tag(session_id), "audit": audit_args(audit)}

    async def list_user(self, user_id: str, now: int) -> list[SessionRecord]:
        check_storable(user_id)
        bucket = bucket_for_user(user_id)
        keys = {"user": self.keys.user(user_id), "index": self.keys.index(bucket)}
        reply = await self._run("list_user", keys, {"now": now, "tag": self.keys.tag(bucket)})
        pairs = iter(reply)
        return [record_of(session_id.decode(), fields) for session_id, fields in zip(pairs, pairs, strict=True)]

    async def delete_user(
        self, user_id: str, now: int, *, except_id: str | None = None, audit: Audit = NO_AUDIT
    ) -> list[str]:
        check_storable(user_id)
        bucket = bucket_for_user(user_id)
        keys = {"user": self.keys.user(user_id), "index": self.keys.index(bucket)}
        args = {"now": now, "tag": self.keys.tag(bucket), "keep": except_id or "", "user": user_id}
        removed = [
            session_id.decode()
            for session_id in await self._run("delete_user", keys, {**args, "audit": audit_args(audit)})
        ]
        self._forget_sessions(removed)
        return removed

    async def report_reuse(self, session_id: str, now: int, *, grace: int, revoke: bool, audit: Audit) -> str | None:
        keys = {"rotated_from": self.keys.rotated_from(session_id), "index": self._index(session_id)}
        args = {
            "now": now, "id": session_id, "tag": self._tag(session_id), "grace": grace, "revoke": int(revoke),
            "max_hops": MAX_ROTATION_HOPS, "audit": audit_args(audit),
        }  # fmt: skip
        rotated_into = await self._run("report_reuse", keys, args)
        if rotated_into is None:
            return None
        self._forget_sessions([rotated_into.decode()])  # revoked, or its security log written
        return str(rotated_into.decode())

    async def flag_risk(self, session_id: str, signature: str, risk: str, now: int, *, audit: Audit) -> bool:
        args = {
            "now": now, "id": session_id, "tag": self._tag(session_id), "signature": signature, "risk": risk,
            "audit": audit_args(audit),
        }  # fmt: skip
        return bool(await self._run("flag_risk", {"session": self.keys.session(session_id)}, args))

    async def count_unknown_token(self, address: str, *, window: int) -> tuple[int, int]:
        keys = {"counter": self.keys.unknown_tokens(address)}
        count, remaining = await self._run("count_unknown_token", keys, {"window": window}, writes=False)
        return int(count), int(remaining)

    async def security_events(self, user_id: str, *, since: int, limit: int) -> list[SecurityEvent]:
        key = self.keys.events(user_id)
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self._call(
            lambda: self.client.xrevrange(key, count=limit)  # type: ignore[arg-type, return-value]
        )
        found = (event_of(fields) for _, fields in entries)
        cutoff = utc(since)
        return [event for event in found if event.at >= cutoff]

    async def append_message(
        self, session_id: str, message: bytes, cap: int, now: int, *, replay: bool = False
    ) -> int | None:
        keys = {**self._session_keys(session_id), "messages": self.keys.messages(session_id)}
        args = {
            "now": now, "id": session_id, "tag": self._tag(session_id), "message": message, "cap": cap,
            "replay": int(replay),
        }  # fmt: skip
        length: int | None = await self._run("append_message", keys, args)
        return length

    async def load_conversation(
        self, session_id: str, now: int, last: int | None, *, touch_interval: int = 0
    ) -> ConversationRecord | None:
        keys = {**self._session_keys(session_id), "messages": self.keys.messages(session_id)}
        args = {
            "now": now, "id": session_id, "tag": self._tag(session_id), "touch_interval": touch_interval,
            "last": -1 if last is None else last,
        }  # fmt: skip
        reply = await self._run("load_conversation", keys, args)
        if reply is None:
            return None
        fields, messages, count = reply
        return ConversationRecord(record_of(session_id, fields), messages, count)

    async def count(self, now: int) -> int:
        """Prune and count every bucket index in one pipelined round trip (on a cluster, one per primary, sent at
        once): O(buckets), never a keyspace scan."""

        async def prune_and_count() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                for bucket in all_buckets():
                    index = self.keys.index(bucket)
                    pipe.zremrangebyscore(index, "-inf", now)
                    pipe.zcard(index)
                return await pipe.execute()

        replies = await self._call(prune_and_count)
        return sum(replies[1::2])

    async def instance(self) -> str:
        """The server's run_id, which is new after every restart."""
        info = await self._call(lambda: self.client.info("server"))
        return str(info["run_id"])

    async def restore(
        self, record: SessionRecord, now: int, *, data_changed: bool, replaces: str | None, if_replaced_exists: bool
    ) -> bool:
        check_storable(record.user_id, record.data)
        replaced = replaces if replaces is not None else record.id
        if bucket_of(replaced) != bucket_of(record.id):
            raise ValueError("a restored session replaces only an earlier id in its own bucket")
        keys = {
            **self._session_keys(record.id), "replaced": self.keys.session(replaced),
            "user": self._user_key(record.user_id),
        }  # fmt: skip
        args = {
            "now": now, "id": record.id, "tag": self._tag(record.id), "replaced_id": replaced,
            "if_replaced_exists": int(if_replaced_exists), "data_changed": int(data_changed),
            "last_active": record.last_active_at, "idle_deadline": record.expires_at,
            "absolute_deadline": record.absolute_expires_at, "created": record.created_at,
        }  # fmt: skip
        return bool(await self._run("restore", keys, args, record_fields(record)))

    def stats(self) -> dict[str, Any]:
        connections = {**self._counts, "connection_wait_seconds": round(self._connection_wait_seconds, 6)}
        if self.cache is None:
            return connections
        return connections | {f"client_cache_{name}": value for name, value in self.cache.stats().items()}

    async def health(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await self._call(self.client.ping)
        except BackendUnavailable as exc:
            cause = exc.__cause__ or exc
            return {"status": "down", "backend": self.name, "error": type(cause).__name__}
        return {"status": "ok", "backend": self.name, "latency_ms": round((time.perf_counter() - started) * 1000, 3)}

    # -- admin reads and legacy sessions ------------------------------------------------------------------------

    async def peek(self, session_id: str, now: int) -> SessionRecord | None:
        """A plain HGETALL: reading needs no script, and nothing is written (an expired session is left to its TTL)."""
        key = self.keys.session(session_id)
        # decode_responses is off (checked in __init__), so replies are bytes.
        fields = cast(dict[bytes, bytes], await self._call(lambda: self.client.hgetall(key)))
        return _live_record(session_id, fields, now)

    async def browse(self, now: int, *, after: str | None, limit: int) -> list[SessionRecord]:
        """Bucket by bucket from the one `after` is in (ids start with their bucket, so this is id order): the
        bucket's index (live ids only, by deadline score) sorted in Python, then one pipelined HGETALL per page."""
        found: list[SessionRecord] = []
        buckets = all_buckets()
        first = buckets.index(bucket_of(after)) if after is not None else 0
        for bucket in buckets[first:]:
            members = await self._call(functools.partial(self._live_ids, self.keys.index(bucket), now))
            ids = sorted(member.decode() for member in members)
            ids = [session_id for session_id in ids if after is None or session_id > after][: limit - len(found)]
            if not ids:
                continue
            keys = [self.keys.session(session_id) for session_id in ids]
            replies = await self._call(functools.partial(self._hgetall_all, keys))
            live = (_live_record(session_id, fields, now) for session_id, fields in zip(ids, replies, strict=True))
            found += filter(None, live)
            if len(found) >= limit:
                break
        return found

    async def _live_ids(self, index: str, now: int) -> list[bytes]:
        return cast(list[bytes], await self.client.zrangebyscore(index, now, "+inf"))

    async def _hgetall_all(self, keys: list[str]) -> list[dict[bytes, bytes]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            return cast(list[dict[bytes, bytes]], await pipe.execute())

    async def import_sessions(self, imports: Sequence[ImportedSession], now: int) -> list[ImportOutcome]:
        """One import.lua call for the batch, which writes the aliases too. On Redis Cluster, one call per bucket
        (all sent at once), then the aliases it asks for in one more round trip: each is in its own bucket."""
        for item in imports:
            check_storable(item.record.user_id, item.record.data)  # before anything is sent
        self._forget_sessions(item.record.id for item in imports)
        client = self.client
        if not isinstance(client, RedisCluster):
            reply = await self._import_group(imports, now, with_aliases=True)
            return [cast(ImportOutcome, outcome.decode()) for outcome in reply[0::2]]
        by_bucket: dict[str, list[int]] = {}
        for position, item in enumerate(imports):
            by_bucket.setdefault(bucket_of(item.record.id), []).append(position)
        groups = list(by_bucket.values())
        replies = await asyncio.gather(
            *(self._import_group([imports[i] for i in group], now, with_aliases=False) for group in groups)
        )
        outcomes: list[Any] = [None] * len(imports)
        aliases: list[tuple[str, str, int]] = []
        for group, reply in zip(groups, replies, strict=True):
            for position, outcome, alias_ttl in zip(group, reply[0::2], reply[1::2], strict=True):
                outcomes[position] = cast(ImportOutcome, outcome.decode())
                if alias_ttl > 0:
                    item = imports[position]
                    aliases.append((self.keys.legacy_alias(item.alias_id), item.record.id, alias_ttl))
        if aliases:

            async def write_aliases() -> None:
                async with client.pipeline(transaction=False) as pipe:
                    for alias, session_id, ttl in aliases:
                        pipe.set(alias, session_id, px=ttl)
                    await pipe.execute()

            await self._call(write_aliases)
        return outcomes

    async def _import_group(self, imports: Sequence[ImportedSession], now: int, *, with_aliases: bool) -> list[Any]:
        keys: list[str] = []
        batch: list[dict[str, Any]] = []
        for item in imports:
            record = item.record
            keys += [self.keys.session(record.id), self._index(record.id), self.keys.import_marker(record.id)]
            if record.user_id is not None:
                keys.append(self.keys.user(record.user_id))
            if with_aliases:
                keys.append(self.keys.legacy_alias(item.alias_id))
            fields = [value.decode() if isinstance(value, bytes) else str(value) for value in record_fields(record)]
            batch.append({
                "id": record.id, "tag": self._tag(record.id), "alias_id": item.alias_id, "digest": item.source_digest,
                "idle_deadline": record.expires_at, "absolute_deadline": record.absolute_expires_at,
                "user": record.user_id is not None, "alias": with_aliases, "fields": fields,
                "messages": [message.decode() for message in item.messages],
            })  # fmt: skip
        args = {"now": now, "adopted": ADOPTED, "batch": orjson.dumps(batch)}
        return cast(list[Any], await self._run("import", {"keys": keys}, args, writes=False))

    async def import_markers(self, session_ids: Sequence[str], now: int) -> list[ImportMarker | None]:

        async def markers_and_deadlines() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                for session_id in session_ids:
                    pipe.hmget(self.keys.import_marker(session_id), ["s", "d"])
                    pipe.hmget(self.keys.session(session_id), ["e", "x"])
                return await pipe.execute()

        replies = await self._call(markers_and_deadlines)
        markers: list[ImportMarker | None] = []
        for (state, digest), (idle_deadline, absolute_deadline) in zip(replies[0::2], replies[1::2], strict=True):
            status: ImportStatus
            if state is None:
                markers.append(None)
                continue
            if state == ADOPTED.encode():
                status = "adopted"
            elif idle_deadline is not None and is_live_at(now, int(idle_deadline), int(absolute_deadline)):
                status = "pending"
            else:
                status = "ended"
            markers.append(ImportMarker(status, (digest or b"").decode()))
        return markers

    async def resolve_alias(self, alias_id: str, now: int) -> str | None:
        key = self.keys.legacy_alias(alias_id)
        session_id = cast(bytes | None, await self._call(lambda: self.client.get(key)))
        return session_id.decode() if session_id is not None else None

    async def adopt(self, alias_id: str, session_id: str, new_session_id: str, now: int) -> SessionRecord | None:
        """The adoption script in the session's bucket, and the alias deleted in its own, in one round trip (two on
        Redis Cluster)."""
        keys = {
            **self._session_keys(session_id), "new_session": self.keys.session(new_session_id),
            "marker": self.keys.import_marker(session_id),
        }  # fmt: skip
        args = {
            "now": now, "id": session_id, "new_id": new_session_id, "tag": self._tag(session_id),
            "alias_id": alias_id, "adopted": ADOPTED,
        }  # fmt: skip
        alias = self.keys.legacy_alias(alias_id)
        client = self.client
        if isinstance(client, RedisCluster):  # its pipeline refuses scripts: two round trips there
            fields = await self._run("adopt", keys, args)
            await self._call(lambda: client.delete(alias))
        else:

            async def pipelined() -> Any:
                async with client.pipeline(transaction=False) as pipe:
                    await self._run("adopt", keys, args, client=pipe)
                    pipe.delete(alias)
                    adopted, _deleted = await pipe.execute()
                    return adopted

            fields = await self._call(pipelined)
        return record_of(new_session_id, fields) if fields is not None else None

    # -- key names ----------------------------------------------------------------------------------------------

    def _tag(self, session_id: str) -> str:
        return self.keys.tag(bucket_of(session_id))

    def _index(self, session_id: str) -> str:
        return self.keys.index(bucket_of(session_id))

    def _user_key(self, user_id: str | None) -> str | None:
        return self.keys.user(user_id) if user_id is not None else None


_BROKEN_CONNECTION = (RedisConnectionError, OSError, AttributeError)
"""A call that failed so may not have reached Redis, or reached it and lost its reply: worth one more send."""


def _log_unexpected(exc: BaseException) -> None:
    """A redis-py failure that is not a RedisError is a client bug worth seeing; its message names no key."""
    if not isinstance(exc, FAILURES):
        logger.warning(
            "the redis client raised %s mid-call",
            type(exc).__name__,
            exc_info=exc,
            extra={"event": "redis_client_error", "error": type(exc).__name__},
        )
