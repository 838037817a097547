"""Sessions in Redis, every operation one atomic Lua script and one round trip, on one server, Sentinel or Cluster.

Key layout (docs/key-layout.md has the full story); `<tag>` is `<key_prefix>:{<bucket>}:`, the braces making the
bucket the Redis Cluster hash tag:

    <tag>s:<digest>   hash: the session. Metadata fields u (user id), k (kind), c (created), a (last active),
                      e (idle deadline), x (absolute deadline), t (idle timeout), ip, ua; data fields d:<key>, one
                      JSON document per top-level key, so a save writes only the keys that changed.
    <tag>c:<digest>   list: the session's messages, oldest first, one JSON document each (only once it has one).
    <tag>u:<user id>  sorted set: ids of the user's sessions (the user's bucket holds all of them).
    <tag>all          sorted set: ids of the bucket's sessions scored by idle deadline, for counting without a scan.
    <tag>ev:<user id> stream: the user's security log (sessionhub.events), capped and with a TTL, written by the
                      same scripts that change the sessions.
    <tag>rf:<digest>  string: "<new id>:<time>", left by a rotation so that a rotated-away token presented again
                      can be recognised (token theft) without ever storing a token.
    <tag>m:<digest>   string: import marker of a migrated legacy session (sessionhub.legacy), in its bucket.
    <tag>l:<digest>   string: legacy alias, the id of the session a legacy cookie reaches, in the alias's bucket.

Every key carries a TTL: a session's (and its messages') is its idle deadline, an index's is the latest absolute
deadline of its members. Times are milliseconds from the caller's clock, passed in, so that all backends judge
expiry alike.

A script that reaches another key of the same session derives its name from the tag it was given; the bucket
invariant (a user's sessions live in the user's bucket) guarantees it is in the same slot. Every script starts with
`#!lua` so that Redis (7.0+) checks this on each call: a script in that mode may touch keys it did not declare only
in the slot of those it did, and fails otherwise, where an old-style script would silently reach any key its node
holds. The one operation that spans two slots, login from a session in another bucket, runs as three steps on
Redis Cluster (`RedisBackend.login`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, Self, cast

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sessionhub.backends.base import (
    ADOPTED,
    MAX_ROTATION_HOPS,
    NO_AUDIT,
    ROTATED_AWAY,
    Audit,
    ImportedSession,
    ImportStatus,
    RotatedAway,
    SessionBackend,
    UserLimit,
)
from sessionhub.backends.redis_cache import TrackedCache
from sessionhub.backends.redis_connect import RedisClient, connect
from sessionhub.client import ClientInfo
from sessionhub.errors import BackendUnavailable, ConfigurationError, SessionLimitExceeded
from sessionhub.events import SecurityEvent
from sessionhub.model import ConversationRecord, DataChanges, SessionRecord, utc
from sessionhub.settings import DEFAULT_CLIENT_CACHE
from sessionhub.tokens import all_buckets, bucket_for_user, bucket_of

logger = logging.getLogger("sessionhub")

LIMIT_REFUSED = "SESSIONHUB_LIMIT"

# How often a backend on a Sentinel-managed primary asks the Sentinels where the primary is (RedisBackend._follow).
PRIMARY_CHECK_INTERVAL = 1.0

# How long `open` waits for the client cache's tracking connection before going on without it (it keeps trying).
CACHE_START_WAIT = 2.0

# What redis-py raises when Redis cannot serve a command; cluster routing failures are not RedisErrors.
_FAILURES = (RedisError, RedisClusterException)
# Replies that say Redis cannot take a command now (a failover, a full memory, a primary short of replicas under
# min-replicas-to-write, a script on a slot being migrated to another node), rather than that the command is wrong:
# the store is unavailable, for the caller to ride out.
_REFUSED_NOW = (ClusterDownError, OutOfMemoryError, ReadOnlyError, TryAgainError)
_REFUSED_NOW_CODES = ("NOREPLICAS", "BUSY", "Script attempted to access a non local key")

# Helpers every script below is prefixed with. Redis caches scripts by SHA, so the repetition costs nothing.
# The shebang must be the first line: it makes Redis refuse any key outside the slot of the declared ones.
_HELPERS = """#!lua
local function session_key(tag, id) return tag .. 's:' .. string.sub(id, 3) end

local function user_key_of(tag, user) if user then return tag .. 'u:' .. user end end

-- The messages list next to a session key: the same name with 'c:' for 's:' before the 32-character digest.
local function messages_key_of(key) return string.sub(key, 1, -35) .. 'c:' .. string.sub(key, -32) end

-- Metadata fields of a HGETALL reply (data fields start with 'd:').
local function meta_of(fields)
  local meta = {}
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) ~= 'd:' then meta[fields[i]] = fields[i + 1] end
  end
  return meta
end

-- The caller's clock decides, so that a session Redis has not expired yet is not served past its deadline.
local function is_live(meta, now)
  return meta.e ~= nil and now < tonumber(meta.e) and now < tonumber(meta.x)
end

local function forget(key, index, user_key, id)
  redis.call('DEL', key, messages_key_of(key))
  redis.call('ZREM', index, id)
  if user_key then redis.call('ZREM', user_key, id) end
end

-- A live session's fields and metadata; nil for a missing one, and an expired one is forgotten on the way.
local function read_live(key, index, tag, id, now)
  local fields = redis.call('HGETALL', key)
  if #fields == 0 then return nil end
  local meta = meta_of(fields)
  if not is_live(meta, now) then
    forget(key, index, user_key_of(tag, meta.u), id)
    return nil
  end
  return fields, meta
end

-- What a login carries over from the previous session: its data (less the fields the caller removed) and kind,
-- when it is anonymous or the user's; nothing otherwise.
local function carried_from(fields, meta, user, removed)
  local carried = {}
  if meta.u ~= nil and meta.u ~= user then return carried end
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'd:' and not removed[fields[i]] then
      carried[#carried + 1] = fields[i]
      carried[#carried + 1] = fields[i + 1]
    end
  end
  carried[#carried + 1] = 'k'
  carried[#carried + 1] = meta.k
  return carried
end

local function extend_ttl(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

-- Slide the idle deadline, never past the absolute one.
local function touch(key, index, id, now, meta)
  local deadline = math.min(now + tonumber(meta.t), tonumber(meta.x))
  redis.call('HSET', key, 'a', now, 'e', deadline)
  redis.call('PEXPIRE', key, deadline - now)
  redis.call('PEXPIRE', messages_key_of(key), deadline - now)
  redis.call('ZADD', index, deadline, id)
end

-- Whether a read slides the idle deadline: SessionRecord.touch_due (model.py) states the rule, this mirrors it. A
-- read within the touch interval (ms, capped at a tenth of the idle timeout) of the last slide writes nothing.
local function touch_due(meta, now, interval)
  return now - tonumber(meta.a) >= math.min(interval, math.floor(tonumber(meta.t) / 10))
end

-- A read: the live session's fields as stored, its deadline slid if a touch is due; nil when it is not live.
local function read_and_touch(key, index, tag, id, now, interval)
  local fields, meta = read_live(key, index, tag, id, now)
  if fields and touch_due(meta, now, interval) then touch(key, index, id, now, meta) end
  return fields
end

-- The metadata a write needs (deadlines, timeout, user) if the session is live; nil when it is not.
local function live_meta(key, index, tag, id, now)
  local m = redis.call('HMGET', key, 'e', 'x', 't', 'u')
  local meta = {e = m[1] or nil, x = m[2], t = m[3], u = m[4] or nil}
  if is_live(meta, now) then return meta end
  if meta.e then forget(key, index, user_key_of(tag, meta.u), id) end
  return nil
end

-- Rename a live session and its messages (rotate, adopt) within its bucket, re-indexed and touched.
local function move_session(key, new_key, index, tag, id, new_id, now, meta)
  local user_key = user_key_of(tag, meta.u)
  redis.call('RENAME', key, new_key)
  if redis.call('EXISTS', messages_key_of(key)) == 1 then
    redis.call('RENAME', messages_key_of(key), messages_key_of(new_key))
  end
  redis.call('ZREM', index, id)
  if user_key then
    redis.call('ZREM', user_key, id)
    redis.call('ZADD', user_key, meta.c, new_id)
  end
  touch(new_key, index, new_id, now, meta)
end

-- HSET in chunks: unpack() of a very long argument list overflows Lua's stack.
local function hset_from(key, values, first, last)
  for i = first, last, 200 do
    redis.call('HSET', key, unpack(values, i, math.min(i + 199, last)))
  end
end

local function store(key, index, user_key, id, now, deadline, absolute, values, first)
  hset_from(key, values, first, #values)
  redis.call('PEXPIRE', key, deadline - now)
  redis.call('ZADD', index, deadline, id)
  extend_ttl(index, absolute - now)
  if user_key then
    redis.call('ZADD', user_key, now, id)
    extend_ttl(user_key, absolute - now)
  end
end

-- The user's live sessions as {id, meta}, dropping what expired (index entries, and keys Redis still holds).
local function live_user_sessions(user_key, index, tag, now)
  local live = {}
  for _, id in ipairs(redis.call('ZRANGE', user_key, 0, -1)) do
    local key = session_key(tag, id)
    local fields = redis.call('HGETALL', key)
    local meta = meta_of(fields)
    if is_live(meta, now) then
      live[#live + 1] = {id = id, fields = fields, meta = meta}
    else
      forget(key, index, user_key, id)
    end
  end
  return live
end

-- Who caused a write and why (sessionhub.backends.base.Audit), from six arguments starting at ARGV[first]; a call
-- without them keeps no log.
local function audit_at(first)
  return {
    actor = ARGV[first], reason = ARGV[first + 1], ip = ARGV[first + 2], device = ARGV[first + 3],
    max = tonumber(ARGV[first + 4]) or 0, ttl = tonumber(ARGV[first + 5]),
  }
end

-- Append to the user's security log, a stream next to the user's sessions (same slot) trimmed to about audit.max
-- entries and kept audit.ttl ms after its newest one. Anonymous sessions have no log. `extra` may set related,
-- reason, risk and actor. Event types are the constants of sessionhub.events.
local function log_event(tag, user, now, audit, kind, id, extra)
  if not user or audit.max <= 0 then return end
  extra = extra or {}
  local entry = {'type', kind, 'at', now, 'sid', id, 'actor', extra.actor or audit.actor}
  local optional = {
    {'rel', extra.related}, {'reason', extra.reason or audit.reason}, {'risk', extra.risk},
    {'ip', audit.ip}, {'dev', audit.device},
  }
  for _, pair in ipairs(optional) do
    if pair[2] and pair[2] ~= '' then
      entry[#entry + 1] = pair[1]
      entry[#entry + 1] = pair[2]
    end
  end
  local key = tag .. 'ev:' .. user
  redis.call('XADD', key, 'MAXLEN', '~', audit.max, '*', unpack(entry))
  redis.call('PEXPIRE', key, audit.ttl)
end

-- Make room for one more session (`newcomer`) of the user: nil when the policy refuses, else the evicted ids
-- (least recently active first). `replacing` is a session about to be deleted anyway and does not count.
local function make_room(user_key, index, tag, now, limit, evict, replacing, user, audit, newcomer)
  if limit <= 0 then return {} end
  local others = {}
  for _, s in ipairs(live_user_sessions(user_key, index, tag, now)) do
    if s.id ~= replacing then others[#others + 1] = s end
  end
  local excess = #others - limit + 1
  if excess <= 0 then return {} end
  local policy = evict and 'evict_oldest' or 'reject'
  log_event(tag, user, now, audit, 'limit_reached', newcomer, {reason = policy, actor = 'system'})
  if not evict then return nil end
  table.sort(others, function(a, b)
    if a.meta.a ~= b.meta.a then return tonumber(a.meta.a) < tonumber(b.meta.a) end
    return tonumber(a.meta.c) < tonumber(b.meta.c)
  end)
  local evicted = {}
  for i = 1, excess do
    forget(session_key(tag, others[i].id), index, user_key, others[i].id)
    log_event(tag, user, now, audit, 'evicted', others[i].id, {related = newcomer, reason = 'limit', actor = 'system'})
    evicted[i] = others[i].id
  end
  return evicted
end
"""

# Read a session, sliding its idle deadline when a touch is due: the one round trip of a request that only reads.
# A not-due read is one HGETALL. With no live session, it says whether the id was rotated away (its marker is in
# this bucket, so this slot), which is all a plain miss needs to know; only then does the caller ask _REPORT_REUSE.
# KEYS: session, bucket index. ARGV: now, id, tag, touch interval (ms). Returns the fields as they were before any
# touch; with no live session, 1 when the id was rotated away, else 0.
_LOAD = (
    _HELPERS
    + """
local fields = read_and_touch(KEYS[1], KEYS[2], ARGV[3], ARGV[2], tonumber(ARGV[1]), tonumber(ARGV[4]))
if fields then return fields end
return redis.call('EXISTS', ARGV[3] .. 'rf:' .. string.sub(ARGV[2], 3))
"""
)

# Store a new session, making room under the user's limit first.
# KEYS: session, bucket index[, user index]. ARGV: now, id, tag, limit (0: none), evict ('1') or reject ('0'),
# idle deadline, absolute deadline, user id (or ''), six audit values, then field/value pairs. Returns the evicted
# ids. A refusal writes only its `limit_reached` event.
_CREATE = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local audit = audit_at(9)
local user = KEYS[3] and ARGV[8]
local evicted = {}
if KEYS[3] then
  evicted = make_room(KEYS[3], KEYS[2], ARGV[3], now, tonumber(ARGV[4]), ARGV[5] == '1', '', user, audit, ARGV[2])
  if not evicted then return redis.error_reply('"""
    + LIMIT_REFUSED
    + """') end
end
store(KEYS[1], KEYS[2], KEYS[3], ARGV[2], now, tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV, 15)
log_event(ARGV[3], user, now, audit, 'created', ARGV[2])
return evicted
"""
)

# Write the data keys that changed and delete the removed ones, if the session is still live; slide its deadline.
# KEYS: session, bucket index. ARGV: now, id, tag, number of field/value pairs n, the 2n values, removed fields.
# Returns 1, or 0 when the session is gone (then nothing is written: a slow request cannot undo a logout).
_UPDATE = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local meta = live_meta(KEYS[1], KEYS[2], ARGV[3], ARGV[2], now)
if not meta then return 0 end
local last_set = 4 + 2 * tonumber(ARGV[4])
hset_from(KEYS[1], ARGV, 5, last_set)
for i = last_set + 1, #ARGV, 200 do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV)))
end
touch(KEYS[1], KEYS[2], ARGV[2], now, meta)
return 1
"""
)

# Move a live session to a new id (same bucket), so the old token stops working at once. A marker from the old id
# to the new one lives until the session's absolute deadline: if the old token shows up again, it was copied.
# KEYS: session, new session, bucket index. ARGV: now, id, new id, tag, six audit values. Returns the fields before
# the move, or nil.
_ROTATE = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local fields, meta = read_live(KEYS[1], KEYS[3], ARGV[4], ARGV[2], now)
if not fields then return false end
move_session(KEYS[1], KEYS[2], KEYS[3], ARGV[4], ARGV[2], ARGV[3], now, meta)
redis.call('SET', ARGV[4] .. 'rf:' .. string.sub(ARGV[2], 3), ARGV[3] .. ':' .. ARGV[1], 'PX', tonumber(meta.x) - now)
log_event(ARGV[4], meta.u, now, audit_at(5), 'rotated', ARGV[3], {related = ARGV[2]})
return fields
"""
)

# Sign a user in: a new session in the user's bucket replaces the previous one, whose data and kind carry over
# when it is anonymous or the same user's, and so do its messages. The previous session is deleted unless the limit
# refuses the login.
# KEYS: new session, bucket index, user index[, previous session, previous bucket index]: all in one slot, or on a
# single server (across two slots of a Redis Cluster, RedisBackend.login passes no previous keys and puts what
# _CARRY read into the new session's entries). ARGV: now, id, tag, limit, evict, idle deadline, absolute deadline,
# user id, previous id, previous tag, six audit values, count r of the new session's field/value entries, count c of
# the caller's changed-data entries, then the r entries, the c entries (field/value pairs) and the removed data
# fields. The changes apply where the previous data goes: into the new session when it carries over or when there is
# no previous session, nowhere when it belongs to someone else or ended meanwhile.
# Returns {fields of the new session, evicted ids}.
_LOGIN = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local audit = audit_at(11)
local first_change = 19 + tonumber(ARGV[17])
local first_removed = first_change + tonumber(ARGV[18])
local values = {}
for i = 19, first_change - 1 do values[#values + 1] = ARGV[i] end
local removed = {}
for i = first_removed, #ARGV do removed[ARGV[i]] = true end
-- With no previous session the caller's changes are the whole data; otherwise they go wherever its data goes.
local carried = not KEYS[4]
local previous_user = nil
-- Across two slots (no previous keys) the caller names the previous session only when something carried over.
local replaced = (not KEYS[4] and ARGV[9] ~= '') and ARGV[9] or nil
if KEYS[4] then
  local previous, meta = read_live(KEYS[4], KEYS[5], ARGV[10], ARGV[9], now)
  if previous then
    replaced = ARGV[9]
    previous_user = meta.u
    local carry = carried_from(previous, meta, ARGV[8], removed)
    carried = #carry > 0
    for _, value in ipairs(carry) do values[#values + 1] = value end
  end
end
-- Appended last so that, field by field, the caller's change wins over the carried value (HSET applies in order).
if carried then
  for i = first_change, first_removed - 1 do values[#values + 1] = ARGV[i] end
end
local evicted = make_room(
  KEYS[3], KEYS[2], ARGV[3], now, tonumber(ARGV[4]), ARGV[5] == '1', ARGV[9], ARGV[8], audit, ARGV[2]
)
if not evicted then return redis.error_reply('"""
    + LIMIT_REFUSED
    + """') end
local messages = messages_key_of(KEYS[1])
if KEYS[4] and carried and redis.call('EXISTS', messages_key_of(KEYS[4])) == 1 then
  redis.call('RENAME', messages_key_of(KEYS[4]), messages)
end
if KEYS[4] then forget(KEYS[4], KEYS[5], user_key_of(ARGV[10], previous_user), ARGV[9]) end
store(KEYS[1], KEYS[2], KEYS[3], ARGV[2], now, tonumber(ARGV[6]), tonumber(ARGV[7]), values, 1)
redis.call('PEXPIRE', messages, tonumber(ARGV[6]) - now)
log_event(ARGV[3], ARGV[8], now, audit, 'login', ARGV[2], {related = replaced})
return {redis.call('HGETALL', KEYS[1]), evicted}
"""
)

# The first step of a login across two slots (Redis Cluster): what the previous session carries over, read
# without touching it, so that a refused login leaves it as it was.
# KEYS: previous session, its bucket index. ARGV: now, previous id, previous tag, user id, then the data fields the
# caller removed. Returns field/value pairs, none when nothing carries over.
_CARRY = (
    _HELPERS
    + """
local previous, meta = read_live(KEYS[1], KEYS[2], ARGV[3], ARGV[2], tonumber(ARGV[1]))
if not previous then return {} end
local removed = {}
for i = 5, #ARGV do removed[ARGV[i]] = true end
return carried_from(previous, meta, ARGV[4], removed)
"""
)

# A login across two slots (Redis Cluster) copies a conversation that carries over in two more steps, between
# signing in and deleting the previous session: read it in the previous session's slot, then write it next to the
# new session, with its TTL. KEYS: the previous session's messages. Returns them, oldest first.
_READ_MESSAGES = "#!lua\nreturn redis.call('LRANGE', KEYS[1], 0, -1)"

# KEYS: the new session's messages. ARGV: TTL in milliseconds, then the messages.
_PUT_MESSAGES = """#!lua
for i = 2, #ARGV, 200 do redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV))) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

# Delete one session. KEYS: session, bucket index. ARGV: now, id, tag, six audit values (without them, no log).
# Returns 1 when a live session was removed (and logged as revoked).
_DELETE = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local m = redis.call('HMGET', KEYS[1], 'e', 'x', 'u')
local meta = {e = m[1] or nil, x = m[2], u = m[3] or nil}
forget(KEYS[1], KEYS[2], user_key_of(ARGV[3], meta.u), ARGV[2])
if not is_live(meta, now) then return 0 end
log_event(ARGV[3], meta.u, now, audit_at(4), 'revoked', ARGV[2])
return 1
"""
)

# The user's live sessions. KEYS: user index, bucket index. ARGV: now, tag. Returns id, fields, id, fields, ...
_LIST_USER = (
    _HELPERS
    + """
local out = {}
for _, s in ipairs(live_user_sessions(KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[1]))) do
  out[#out + 1] = s.id
  out[#out + 1] = s.fields
end
return out
"""
)

# Delete the user's live sessions but one. KEYS: user index, bucket index. ARGV: now, tag, id to keep (or ''),
# user id, six audit values. Returns the ids removed.
_DELETE_USER = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local audit = audit_at(5)
local removed = {}
for _, s in ipairs(live_user_sessions(KEYS[1], KEYS[2], ARGV[2], now)) do
  if s.id ~= ARGV[3] then
    forget(session_key(ARGV[2], s.id), KEYS[2], KEYS[1], s.id)
    log_event(ARGV[2], ARGV[4], now, audit, 'revoked', s.id)
    removed[#removed + 1] = s.id
  end
end
return removed
"""
)

# Called when _LOAD found no session but a rotation marker: was this id rotated away more than `grace` ms ago? Follows
# the markers to the session the token became (rotation stays in the bucket, so every key is in this slot), logs
# token_reused for its user and, when asked, ends it. KEYS: marker of the id. ARGV: now, id, tag, grace, revoke
# ('1' or '0'), six audit values. Returns the id the token was rotated into, or nil.
_REPORT_REUSE = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local marker = redis.call('GET', KEYS[1])
if not marker then return false end
local current, rotated_at = string.match(marker, '^(%x+):(%d+)$')
if now - tonumber(rotated_at) <= tonumber(ARGV[4]) then return false end
for _ = 2, """
    + str(MAX_ROTATION_HOPS)
    + """ do
  local onward = redis.call('GET', ARGV[3] .. 'rf:' .. string.sub(current, 3))
  if not onward then break end
  current = string.match(onward, '^(%x+):')
end
local key = session_key(ARGV[3], current)
local m = redis.call('HMGET', key, 'e', 'x', 'u')
local meta = {e = m[1] or nil, x = m[2], u = m[3] or nil}
if not is_live(meta, now) then return current end
local audit = audit_at(6)
log_event(ARGV[3], meta.u, now, audit, 'token_reused', current, {related = ARGV[2]})
if ARGV[5] == '1' then
  forget(key, ARGV[3] .. 'all', user_key_of(ARGV[3], meta.u), current)
  log_event(ARGV[3], meta.u, now, audit, 'revoked', current)
end
return current
"""
)

# Remember the client flagged as risky on a live session and log risk_flagged, once per new client.
# KEYS: session. ARGV: now, id, tag, client signature, risk level, six audit values. Returns 1 when recorded.
_FLAG_RISK = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local m = redis.call('HMGET', KEYS[1], 'e', 'x', 'u', 'rs')
local meta = {e = m[1] or nil, x = m[2], u = m[3] or nil}
if not is_live(meta, now) or m[4] == ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], 'rs', ARGV[4])
log_event(ARGV[3], meta.u, now, audit_at(6), 'risk_flagged', ARGV[2], {risk = ARGV[5]})
return 1
"""
)


# Append a message to a live session and keep the newest `cap`; the list shares the session's deadline, which slides.
# KEYS: session, bucket index, messages. ARGV: now, id, tag, message, cap, replay ('1': not if the list holds it
# already, and the session's deadline stays). Returns the new length, or nil (nothing written) when not live.
_APPEND_MESSAGE = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local meta = live_meta(KEYS[1], KEYS[2], ARGV[3], ARGV[2], now)
if not meta then return false end
local replay = ARGV[6] == '1'
if not replay or not redis.call('LPOS', KEYS[3], ARGV[4]) then
  redis.call('RPUSH', KEYS[3], ARGV[4])
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[5]), -1)
end
if replay then
  redis.call('PEXPIRE', KEYS[3], tonumber(meta.e) - now)
else
  touch(KEYS[1], KEYS[2], ARGV[2], now, meta)
end
return redis.call('LLEN', KEYS[3])
"""
)

# A read like _LOAD, and the session's newest messages.
# KEYS: session, bucket index, messages. ARGV: now, id, tag, touch interval (ms), how many of the newest messages
# (-1: all). Returns {fields before any touch, messages, message count}, or nil.
_LOAD_CONVERSATION = (
    _HELPERS
    + """
local fields = read_and_touch(KEYS[1], KEYS[2], ARGV[3], ARGV[2], tonumber(ARGV[1]), tonumber(ARGV[4]))
if not fields then return false end
local last = tonumber(ARGV[5])
local messages = {}
if last < 0 then
  messages = redis.call('LRANGE', KEYS[3], 0, -1)
elseif last > 0 then
  messages = redis.call('LRANGE', KEYS[3], -last, -1)
end
return {fields, messages, redis.call('LLEN', KEYS[3])}
"""
)

# Write back a session ResilientBackend kept in memory during an outage; idempotent, so a replay interrupted by
# another failure can simply run again. A copy here that is more recently active wins (on a tie, ours wins if it
# changed data: a write beats a read of the same millisecond). An older copy gets our data (if it changed) and our
# deadline, even if its own deadline passed: it was not ended, the outage kept it alive. A missing one is written,
# unless ARGV[5] asks for the replaced session to exist and it does not (it was ended elsewhere meanwhile, and must
# not come back under any id).
# KEYS: session, bucket index, replaced session (an earlier id in the same bucket, or the session itself)[, user
# index]. ARGV: now, id, tag, replaced id, if replaced exists ('1'/'0'), data changed ('1'/'0'), last active, idle
# deadline, absolute deadline, created, then the record's field/value pairs. Returns 1 when written, else 0.
_RESTORE = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local active, deadline, absolute = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
if now >= deadline or now >= absolute then return 0 end
local fields = redis.call('HGETALL', KEYS[1])
if #fields > 0 then
  local meta = meta_of(fields)
  local theirs = tonumber(meta.a)
  if theirs > active or (theirs == active and ARGV[6] ~= '1') then return 0 end
  if ARGV[6] == '1' then
    for i = 1, #fields, 2 do
      local name = fields[i]
      if string.sub(name, 1, 2) == 'd:' or name == 'ip' or name == 'ua' then redis.call('HDEL', KEYS[1], name) end
    end
    hset_from(KEYS[1], ARGV, 11, #ARGV)
  end
  deadline = math.max(deadline, tonumber(meta.e))
  redis.call('HSET', KEYS[1], 'a', active, 'e', deadline)
elseif ARGV[5] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then
  return 0
else
  hset_from(KEYS[1], ARGV, 11, #ARGV)
end
redis.call('PEXPIRE', KEYS[1], deadline - now)
redis.call('ZADD', KEYS[2], deadline, ARGV[2])
extend_ttl(KEYS[2], absolute - now)
if KEYS[4] then
  redis.call('ZADD', KEYS[4], tonumber(ARGV[10]), ARGV[2])
  extend_ttl(KEYS[4], absolute - now)
end
if ARGV[4] ~= ARGV[2] then
  -- An earlier id of the same session: its messages move to this one, unless this one has its own already.
  if redis.call('EXISTS', messages_key_of(KEYS[3])) == 1 and redis.call('EXISTS', messages_key_of(KEYS[1])) == 0 then
    redis.call('RENAME', messages_key_of(KEYS[3]), messages_key_of(KEYS[1]))
  end
  local replaced_user = redis.call('HGET', KEYS[3], 'u')
  forget(KEYS[3], KEYS[2], user_key_of(ARGV[3], replaced_user or nil), ARGV[4])
end
redis.call('PEXPIRE', messages_key_of(KEYS[1]), deadline - now)
return 1
"""
)


# -- legacy sessions (sessionhub.legacy): imports, aliases, adoption ----------------------------------------------

# Store an imported legacy session unless its marker says it was imported before (then even an adopted or ended one
# stays as it is: re-running a migration never brings a session back).
# KEYS: session, bucket index, import marker[, user index]. ARGV: now, id, tag, alias id, idle deadline, absolute
# deadline, then field/value pairs. Returns 1 when stored, 0 when imported before.
_IMPORT = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local absolute = tonumber(ARGV[6])
store(KEYS[1], KEYS[2], KEYS[4], ARGV[2], now, tonumber(ARGV[5]), absolute, ARGV, 7)
redis.call('SET', KEYS[3], ARGV[4], 'PX', absolute - now)
return 1
"""
)

# Adopt an imported session through its legacy alias, once: the marker must still name the alias, and then says
# "adopted" for the rest of its life. The session moves to the new id as in a rotation.
# KEYS: session, new session, bucket index, import marker. ARGV: now, id, new id, tag, alias id.
# Returns the fields before the move, or nil.
_ADOPT = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
if redis.call('GET', KEYS[4]) ~= ARGV[5] then return false end
local fields, meta = read_live(KEYS[1], KEYS[3], ARGV[4], ARGV[2], now)
if not fields then return false end
move_session(KEYS[1], KEYS[2], KEYS[3], ARGV[4], ARGV[2], ARGV[3], now, meta)
redis.call('SET', KEYS[4], '"""
    + ADOPTED
    + """', 'KEEPTTL')
return fields
"""
)


class KeyLayout:
    """Names of the Redis keys; the Lua scripts derive the same names from the tag they are given."""

    def __init__(self, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigurationError("key_prefix must not contain braces: the bucket must be the hash tag")
        self.prefix = prefix

    def tag(self, bucket: str) -> str:
        return f"{self.prefix}:{{{bucket}}}:"

    @property
    def everything(self) -> str:
        """What every key of this layout starts with."""
        return f"{self.prefix}:{{"

    def session(self, session_id: str) -> str:
        return f"{self.tag(bucket_of(session_id))}s:{session_id[2:]}"

    def messages(self, session_id: str) -> str:
        return f"{self.tag(bucket_of(session_id))}c:{session_id[2:]}"

    def user(self, user_id: str) -> str:
        return f"{self.tag(bucket_for_user(user_id))}u:{user_id}"

    def index(self, bucket: str) -> str:
        return f"{self.tag(bucket)}all"

    def events(self, user_id: str) -> str:
        return f"{self.tag(bucket_for_user(user_id))}ev:{user_id}"

    def rotated_from(self, session_id: str) -> str:
        return f"{self.tag(bucket_of(session_id))}rf:{session_id[2:]}"

    def import_marker(self, session_id: str) -> str:
        return f"{self.tag(bucket_of(session_id))}m:{session_id[2:]}"

    def legacy_alias(self, alias_id: str) -> str:
        return f"{self.tag(bucket_of(alias_id))}l:{alias_id[2:]}"


def _fields(record: SessionRecord) -> list[str | bytes | int]:
    fields: list[str | bytes | int] = [
        "k", record.kind,
        "c", record.created_at,
        "a", record.last_active_at,
        "e", record.expires_at,
        "x", record.absolute_expires_at,
        "t", record.idle_ttl,
    ]  # fmt: skip
    if record.user_id is not None:
        fields += ["u", record.user_id]
    if record.client.ip:
        fields += ["ip", record.client.ip]
    if record.client.user_agent:
        fields += ["ua", record.client.user_agent]
    for key, raw in record.data.items():
        fields += [f"d:{key}", raw]
    return fields


def _record(session_id: str, fields: list[bytes]) -> SessionRecord:
    meta: dict[bytes, bytes] = {}
    data: dict[str, bytes] = {}
    values = iter(fields)
    for name, value in zip(values, values, strict=True):
        if name[:2] == b"d:":
            data[name[2:].decode()] = value
        else:
            meta[name] = value
    user = meta.get(b"u")
    ip = meta.get(b"ip")
    user_agent = meta.get(b"ua")
    flagged = meta.get(b"rs")
    return SessionRecord(
        id=session_id,
        user_id=user.decode() if user is not None else None,
        kind=meta[b"k"].decode(),
        created_at=int(meta[b"c"]),
        last_active_at=int(meta[b"a"]),
        expires_at=int(meta[b"e"]),
        absolute_expires_at=int(meta[b"x"]),
        idle_ttl=int(meta[b"t"]),
        client=ClientInfo(
            ip=ip.decode() if ip is not None else None,
            user_agent=user_agent.decode() if user_agent is not None else None,
        ),
        data=data,
        flagged_client=flagged.decode() if flagged is not None else None,
    )


def _touched_if_due(record: SessionRecord, now: int, touch_interval: int) -> SessionRecord:
    """The record as a read script left it: the script returns the fields it read, and slid them when this same rule
    (SessionRecord.touch_due, mirrored in Lua) said so."""
    if record.touch_due(now, touch_interval):
        record.touched(now)
    return record


def _audit_args(audit: Audit) -> list[str | int]:
    return [audit.actor, audit.reason, audit.ip or "", audit.device or "", audit.max_events, audit.ttl]


def _event(entry: dict[bytes, bytes]) -> SecurityEvent:
    def text(name: bytes) -> str | None:
        value = entry.get(name)
        return value.decode() if value is not None else None

    return SecurityEvent(
        type=entry[b"type"].decode(),
        at=utc(int(entry[b"at"])),
        session_id=text(b"sid"),
        related_session_id=text(b"rel"),
        reason=text(b"reason"),
        actor=text(b"actor"),
        ip=text(b"ip"),
        device=text(b"dev"),
        risk=text(b"risk"),
    )


def _data_fields(changes: DataChanges) -> tuple[list[str | bytes], list[str]]:
    """The hash fields a data change writes (field/value pairs) and deletes."""
    changed: list[str | bytes] = []
    for key, raw in changes.updated.items():
        changed += [f"d:{key}", raw]
    return changed, [f"d:{key}" for key in changes.removed]


def _limit_args(limit: UserLimit | None) -> list[int]:
    if limit is None:
        return [0, 0]
    return [limit.max_sessions, int(limit.evict_oldest)]


class RedisBackend(SessionBackend):
    """Sessions in one Redis server, a Sentinel-managed primary (`redis.asyncio.Redis` from `Sentinel.master_for`)
    or a Redis Cluster (`redis.asyncio.cluster.RedisCluster`): the scripts and keys are the same on all three."""

    name = "redis"

    def __init__(
        self,
        client: RedisClient,
        *,
        key_prefix: str = "sessionhub",
        owns_client: bool = False,
        client_cache: int = DEFAULT_CLIENT_CACHE,
    ) -> None:
        """`client_cache`: how many session records to keep in process memory between reads, invalidated by Redis
        (backends/redis_cache.py); 0 turns the cache off. It applies to a single server; on a cluster or behind
        Sentinel every read goes to Redis."""
        if client.get_encoder().decode_responses:
            raise ConfigurationError("RedisBackend needs a client with decode_responses=False (data is bytes)")
        if client_cache < 0:
            raise ConfigurationError("client_cache must be 0 (off) or more")
        self.client = client
        self.keys = KeyLayout(key_prefix)
        self._owns_client = owns_client
        self._cluster = isinstance(client, RedisCluster)
        self.cache = _tracked_cache(client, self.keys.everything, client_cache)
        self._follower: asyncio.Task[None] | None = None
        self._load = client.register_script(_LOAD)
        self._create = client.register_script(_CREATE)
        self._update = client.register_script(_UPDATE)
        self._rotate = client.register_script(_ROTATE)
        self._login = client.register_script(_LOGIN)
        self._delete = client.register_script(_DELETE)
        self._list_user = client.register_script(_LIST_USER)
        self._delete_user = client.register_script(_DELETE_USER)
        self._report_reuse = client.register_script(_REPORT_REUSE)
        self._flag_risk = client.register_script(_FLAG_RISK)
        self._append_message = client.register_script(_APPEND_MESSAGE)
        self._load_conversation = client.register_script(_LOAD_CONVERSATION)
        self._carry = client.register_script(_CARRY)
        self._read_messages = client.register_script(_READ_MESSAGES)
        self._put_messages = client.register_script(_PUT_MESSAGES)
        self._restore = client.register_script(_RESTORE)
        self._import = client.register_script(_IMPORT)
        self._adopt = client.register_script(_ADOPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key_prefix: str = "sessionhub",
        cluster: bool = False,
        client_cache: int = DEFAULT_CLIENT_CACHE,
        **client_options: Any,
    ) -> Self:
        """A backend on its own connections to a server, Sentinel group or cluster, as the URL's scheme says
        (`sessionhub.backends.redis_connect`). `client_options` are redis-py connection options."""
        options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0, "health_check_interval": 30}
        if not url.lower().partition("://")[0].endswith("+sentinel"):
            # A pooled connection the server closed (it restarted) fails on first use: replace it once, at once.
            # Timeouts are not retried: a hung server would cost twice the timeout. Not behind Sentinel: there, with
            # this retry, connections went on writing to a replaced primary until its demotion (tests/backends/
            # test_sentinel_failover.py: ten seconds of writes lost); without it the next call asks the Sentinels.
            options["retry"] = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        options.update(client_options)
        options["decode_responses"] = False
        client = connect(url, cluster=cluster, **options)
        return cls(client, key_prefix=key_prefix, owns_client=True, client_cache=client_cache)

    async def open(self) -> None:
        try:
            await self.client.ping()
            for script in self._scripts():
                await self.client.script_load(script.script)  # on a cluster: into every primary
        except ResponseError as exc:
            raise ConfigurationError(
                f"redis refused sessionhub's scripts ({exc}); they need Redis 7.0+ (or Valkey) and EVALSHA"
            ) from None
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        pool = getattr(self.client, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool) and self._follower is None:
            self._follower = asyncio.create_task(self._follow(pool), name="sessionhub-follow-sentinel-primary")
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

    async def _follow(self, pool: SentinelConnectionPool) -> None:
        """Drop every connection to a primary that Sentinel has replaced, within PRIMARY_CHECK_INTERVAL.

        redis-py asks the Sentinels only when it opens a connection, and a replaced primary that is still up goes on
        acknowledging writes until Sentinel demotes it, about ten seconds after a SENTINEL FAILOVER; its resync then
        drops them all. Connections in use are dropped too: they are talking to that primary.
        """
        # Our own record, not the pool's: a connection opened meanwhile updates the pool's address, and drops idle
        # connections, but leaves those in use talking to the old primary.
        known = pool.master_address
        while True:
            await asyncio.sleep(PRIMARY_CHECK_INTERVAL)
            with contextlib.suppress(*_FAILURES):  # no Sentinel answers: ask again at the next tick
                current = await pool.get_master_address()  # type: ignore[no-untyped-call]
                if known is not None and current != known:
                    logger.warning("sessionhub: Sentinel moved the primary; reconnecting")
                    await pool.disconnect(inuse_connections=True)
                known = current

    def _scripts(self) -> list[AsyncScript]:
        return [
            self._load, self._create, self._update, self._rotate, self._login,
            self._delete, self._list_user, self._delete_user, self._carry, self._read_messages, self._put_messages,
            self._append_message, self._load_conversation, self._report_reuse, self._flag_risk,
            self._import, self._adopt, self._restore,
        ]  # fmt: skip

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any], *, writes: bool = True) -> Any:
        """Run a script; one that `writes` first drops the cached copies of the keys it names (read your writes)."""
        if writes:
            self._forget(keys)
        try:
            return await script(keys=keys, args=args)
        except ResponseError as exc:
            if str(exc).startswith(LIMIT_REFUSED):
                raise SessionLimitExceeded("the user is at the session limit and the policy is reject") from None
            # A script refused by the server (READONLY replica after a failover, OOM, NOREPLICAS): the store cannot
            # serve.
            raise _unavailable(exc) from exc
        except _FAILURES as exc:
            raise _unavailable(exc) from exc

    def _forget(self, keys: Iterable[str]) -> None:
        if self.cache is not None:
            self.cache.invalidate(keys)

    def _forget_sessions(self, session_ids: Iterable[str]) -> None:
        """Drop the cached copies of sessions a script ended that the caller could not name beforehand."""
        self._forget(self.keys.session(session_id) for session_id in session_ids)

    # -- the contract -------------------------------------------------------------------------------------------

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
        bucket = bucket_of(session_id)
        stored = None
        try:
            reply = await self._run(
                self._load, [key, self.keys.index(bucket)], [now, session_id, self.keys.tag(bucket), touch_interval],
                writes=False,
            )  # fmt: skip
            if isinstance(reply, int):  # no live session: was it rotated away?
                return ROTATED_AWAY if reply else None
            record = _record(session_id, reply)
            # The script slid the deadline by the same rule. A read that wrote is not cached: its own invalidation
            # would drop it.
            if record.touch_due(now, touch_interval):
                record.touched(now)
            else:
                stored = record
            return record
        finally:
            if cache is not None and read is not None:
                cache.complete(read, stored)

    async def create(
        self, record: SessionRecord, limit: UserLimit | None, now: int, *, audit: Audit = NO_AUDIT
    ) -> list[str]:
        bucket = bucket_of(record.id)
        keys = [self.keys.session(record.id), self.keys.index(bucket)]
        if record.user_id is not None:
            keys.append(self.keys.user(record.user_id))
        args = [
            now, record.id, self.keys.tag(bucket), *_limit_args(limit),
            record.expires_at, record.absolute_expires_at, record.user_id or "", *_audit_args(audit),
            *_fields(record),
        ]  # fmt: skip
        evicted = [session_id.decode() for session_id in await self._run(self._create, keys, args)]
        self._forget_sessions(evicted)
        return evicted

    async def update(self, session_id: str, changes: DataChanges, now: int) -> bool:
        bucket = bucket_of(session_id)
        changed, removed = _data_fields(changes)
        args: list[Any] = [now, session_id, self.keys.tag(bucket), len(changes.updated), *changed, *removed]
        written = await self._run(self._update, [self.keys.session(session_id), self.keys.index(bucket)], args)
        return bool(written)

    async def rotate(
        self, session_id: str, new_session_id: str, now: int, *, audit: Audit = NO_AUDIT
    ) -> SessionRecord | None:
        bucket = bucket_of(session_id)
        keys = [self.keys.session(session_id), self.keys.session(new_session_id), self.keys.index(bucket)]
        args = [now, session_id, new_session_id, self.keys.tag(bucket), *_audit_args(audit)]
        fields = await self._run(self._rotate, keys, args)
        if fields is None:
            return None
        record = _record(new_session_id, fields)
        record.touched(now)
        return record

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
        bucket = bucket_of(record.id)
        keys = [self.keys.session(record.id), self.keys.index(bucket), self.keys.user(record.user_id)]
        previous_keys: list[str] = []
        previous_args: list[Any] = []
        if previous_id is not None:
            previous_bucket = bucket_of(previous_id)
            previous_keys = [self.keys.session(previous_id), self.keys.index(previous_bucket)]
            previous_args = [now, previous_id, self.keys.tag(previous_bucket)]
        record_fields = _fields(record)
        changed, removed = _data_fields(changes or DataChanges())
        across_slots = self._cluster and previous_id is not None and bucket_of(previous_id) != bucket
        named_previous = previous_id or ""
        if across_slots:
            carried = await self._run(self._carry, previous_keys, [*previous_args, record.user_id, *removed])
            record_fields += carried
            if not carried:  # someone else's or ended: the changes go nowhere, as in the one-script case
                changed = []
                named_previous = ""
        else:
            keys += previous_keys
        args = [
            now, record.id, self.keys.tag(bucket), *_limit_args(limit),
            record.expires_at, record.absolute_expires_at, record.user_id,
            named_previous, previous_args[2] if previous_args else "", *_audit_args(audit),
            len(record_fields), len(changed), *record_fields, *changed, *removed,
        ]  # fmt: skip
        fields, evicted = await self._run(self._login, keys, args)
        if across_slots:
            assert previous_id is not None
            if carried:
                await self._carry_messages(previous_id, record, now)
            try:
                await self._run(self._delete, previous_keys, previous_args)
            except BackendUnavailable as exc:
                logger.warning("sessionhub: session %s outlives the login that replaced it: %s", previous_id, exc)
        evicted_ids = [session_id.decode() for session_id in evicted]
        self._forget_sessions(evicted_ids)
        return _record(record.id, fields), evicted_ids

    async def _carry_messages(self, previous_id: str, record: SessionRecord, now: int) -> None:
        try:
            messages = await self._run(self._read_messages, [self.keys.messages(previous_id)], [])
            if messages:
                ttl = record.expires_at - now
                await self._run(self._put_messages, [self.keys.messages(record.id)], [ttl, *messages])
        except BackendUnavailable as exc:
            logger.warning("sessionhub: the conversation of session %s did not follow its login: %s", previous_id, exc)

    async def delete(self, session_id: str, now: int, *, audit: Audit = NO_AUDIT) -> bool:
        bucket = bucket_of(session_id)
        keys = [self.keys.session(session_id), self.keys.index(bucket)]
        args = [now, session_id, self.keys.tag(bucket), *_audit_args(audit)]
        return bool(await self._run(self._delete, keys, args))

    async def list_user(self, user_id: str, now: int) -> list[SessionRecord]:
        bucket = bucket_for_user(user_id)
        keys = [self.keys.user(user_id), self.keys.index(bucket)]
        reply = await self._run(self._list_user, keys, [now, self.keys.tag(bucket)])
        pairs = iter(reply)
        return [_record(session_id.decode(), fields) for session_id, fields in zip(pairs, pairs, strict=True)]

    async def delete_user(
        self, user_id: str, now: int, *, except_id: str | None = None, audit: Audit = NO_AUDIT
    ) -> list[str]:
        bucket = bucket_for_user(user_id)
        keys = [self.keys.user(user_id), self.keys.index(bucket)]
        args = [now, self.keys.tag(bucket), except_id or "", user_id, *_audit_args(audit)]
        removed = [session_id.decode() for session_id in await self._run(self._delete_user, keys, args)]
        self._forget_sessions(removed)
        return removed

    async def report_reuse(self, session_id: str, now: int, *, grace: int, revoke: bool, audit: Audit) -> str | None:
        tag = self.keys.tag(bucket_of(session_id))
        args = [now, session_id, tag, grace, int(revoke), *_audit_args(audit)]
        rotated_into = await self._run(self._report_reuse, [self.keys.rotated_from(session_id)], args)
        if rotated_into is None:
            return None
        self._forget_sessions([rotated_into.decode()])  # revoked, or its security log written
        return str(rotated_into.decode())

    async def flag_risk(self, session_id: str, signature: str, risk: str, now: int, *, audit: Audit) -> bool:
        args = [now, session_id, self.keys.tag(bucket_of(session_id)), signature, risk, *_audit_args(audit)]
        return bool(await self._run(self._flag_risk, [self.keys.session(session_id)], args))

    async def security_events(self, user_id: str, *, since: int, limit: int) -> list[SecurityEvent]:
        try:
            entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.client.xrevrange(  # type: ignore[assignment]
                self.keys.events(user_id), count=limit
            )
        except RedisError as exc:
            raise _unavailable(exc) from exc
        found = (_event(fields) for _, fields in entries)
        cutoff = utc(since)
        return [event for event in found if event.at >= cutoff]

    async def append_message(
        self, session_id: str, message: bytes, cap: int, now: int, *, replay: bool = False
    ) -> int | None:
        bucket = bucket_of(session_id)
        keys = [self.keys.session(session_id), self.keys.index(bucket), self.keys.messages(session_id)]
        length: int | None = await self._run(
            self._append_message, keys, [now, session_id, self.keys.tag(bucket), message, cap, int(replay)]
        )
        return length

    async def load_conversation(
        self, session_id: str, now: int, last: int | None, *, touch_interval: int = 0
    ) -> ConversationRecord | None:
        bucket = bucket_of(session_id)
        keys = [self.keys.session(session_id), self.keys.index(bucket), self.keys.messages(session_id)]
        args = [now, session_id, self.keys.tag(bucket), touch_interval, -1 if last is None else last]
        reply = await self._run(self._load_conversation, keys, args)
        if reply is None:
            return None
        fields, messages, count = reply
        return ConversationRecord(_touched_if_due(_record(session_id, fields), now, touch_interval), messages, count)

    async def count(self, now: int) -> int:
        """Prune and count every bucket index in one pipelined round trip (on a cluster, one per primary, sent at
        once): O(buckets), never a keyspace scan."""
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for bucket in all_buckets():
                    index = self.keys.index(bucket)
                    pipe.zremrangebyscore(index, "-inf", now)
                    pipe.zcard(index)
                replies = await pipe.execute()
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        return sum(replies[1::2])

    async def instance(self) -> str:
        """The server's run_id, which is new after every restart."""
        try:
            info = await self.client.info("server")
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        return str(info["run_id"])

    async def restore(
        self, record: SessionRecord, now: int, *, data_changed: bool, replaces: str | None, if_replaced_exists: bool
    ) -> bool:
        replaced = replaces if replaces is not None else record.id
        bucket = bucket_of(record.id)
        if bucket_of(replaced) != bucket:
            raise ValueError("a restored session replaces only an earlier id in its own bucket")
        keys = [self.keys.session(record.id), self.keys.index(bucket), self.keys.session(replaced)]
        if record.user_id is not None:
            keys.append(self.keys.user(record.user_id))
        args = [
            now, record.id, self.keys.tag(bucket), replaced, int(if_replaced_exists), int(data_changed),
            record.last_active_at, record.expires_at, record.absolute_expires_at, record.created_at,
            *_fields(record),
        ]  # fmt: skip
        return bool(await self._run(self._restore, keys, args))

    def stats(self) -> dict[str, Any]:
        if self.cache is None:
            return {}
        return {f"client_cache_{name}": value for name, value in self.cache.stats().items()}

    async def health(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await self.client.ping()
        except _FAILURES as exc:
            return {"status": "down", "backend": self.name, "error": type(exc).__name__}
        return {"status": "ok", "backend": self.name, "latency_ms": round((time.perf_counter() - started) * 1000, 3)}

    # -- admin reads and legacy sessions ------------------------------------------------------------------------

    async def peek(self, session_id: str, now: int) -> SessionRecord | None:
        """A plain HGETALL: reading needs no script, and nothing is written (an expired session is left to its TTL)."""
        try:
            # decode_responses is off (checked in __init__), so replies are bytes.
            fields = cast(dict[bytes, bytes], await self.client.hgetall(self.keys.session(session_id)))
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        if b"e" not in fields:
            return None
        record = _record(session_id, [item for pair in fields.items() for item in pair])
        return record if record.is_live(now) else None

    async def import_sessions(self, imports: Sequence[ImportedSession], now: int) -> list[bool]:
        """One pipelined round trip for the batch (on Redis Cluster, two per session, all sent at once). The alias is
        written after the session, in its own bucket (on Redis Cluster another slot): re-running an import that
        stopped in between writes the same alias again."""
        calls: list[tuple[list[str], list[Any], str, str, int]] = []
        for item in imports:
            record = item.record
            bucket = bucket_of(record.id)
            keys = [self.keys.session(record.id), self.keys.index(bucket), self.keys.import_marker(record.id)]
            if record.user_id is not None:
                keys.append(self.keys.user(record.user_id))
            args = [
                now, record.id, self.keys.tag(bucket), item.alias_id,
                record.expires_at, record.absolute_expires_at, *_fields(record),
            ]  # fmt: skip
            alias = self.keys.legacy_alias(item.alias_id)
            calls.append((keys, args, alias, record.id, record.expires_at - now))
        self._forget_sessions(item.record.id for item in imports)
        client = self.client
        try:
            if isinstance(client, RedisCluster):
                # redis-py's cluster pipeline refuses scripts: each import runs on its own, all of them at once.
                stored = await asyncio.gather(*(self._import_one(client, *call) for call in calls))
            else:
                async with client.pipeline(transaction=False) as pipe:
                    for keys, args, alias, session_id, ttl in calls:
                        await self._import(keys=keys, args=args, client=pipe)
                        pipe.set(alias, session_id, px=ttl)
                    stored = (await pipe.execute())[0::2]
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        return [bool(one) for one in stored]

    async def _import_one(
        self, client: RedisCluster, keys: list[str], args: list[Any], alias: str, session_id: str, ttl: int
    ) -> Any:
        stored = await self._import(keys=keys, args=args)
        await client.set(alias, session_id, px=ttl)
        return stored

    async def import_status(self, session_ids: Sequence[str], now: int) -> list[ImportStatus | None]:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for session_id in session_ids:
                    pipe.get(self.keys.import_marker(session_id))
                    pipe.hmget(self.keys.session(session_id), ["e", "x"])
                replies = await pipe.execute()
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        statuses: list[ImportStatus | None] = []
        for marker, (idle_deadline, absolute_deadline) in zip(replies[0::2], replies[1::2], strict=True):
            if marker is None:
                statuses.append(None)
            elif marker == ADOPTED.encode():
                statuses.append("adopted")
            elif idle_deadline is not None and now < int(idle_deadline) and now < int(absolute_deadline):
                statuses.append("pending")
            else:
                statuses.append("ended")
        return statuses

    async def resolve_alias(self, alias_id: str, now: int) -> str | None:
        try:
            session_id = cast(bytes | None, await self.client.get(self.keys.legacy_alias(alias_id)))
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        return session_id.decode() if session_id is not None else None

    async def adopt(self, alias_id: str, session_id: str, new_session_id: str, now: int) -> SessionRecord | None:
        """The adoption script in the session's bucket, and the alias deleted in its own, in one round trip (two on
        Redis Cluster)."""
        bucket = bucket_of(session_id)
        keys = [
            self.keys.session(session_id), self.keys.session(new_session_id),
            self.keys.index(bucket), self.keys.import_marker(session_id),
        ]  # fmt: skip
        args: list[Any] = [now, session_id, new_session_id, self.keys.tag(bucket), alias_id]
        alias = self.keys.legacy_alias(alias_id)
        self._forget(keys)
        client = self.client
        try:
            if isinstance(client, RedisCluster):  # its pipeline refuses scripts: two round trips there
                fields = await self._adopt(keys=keys, args=args)
                await client.delete(alias)
            else:
                async with client.pipeline(transaction=False) as pipe:
                    await self._adopt(keys=keys, args=args, client=pipe)
                    pipe.delete(alias)
                    fields, _deleted = await pipe.execute()
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        if fields is None:
            return None
        record = _record(new_session_id, fields)
        record.touched(now)
        return record


def _tracked_cache(client: RedisClient, prefix: str, max_entries: int) -> TrackedCache | None:
    """A client-side cache for a single server's client; None when off, or on a cluster or behind Sentinel (where a
    tracking connection would have to follow slots or failovers)."""
    if max_entries == 0 or isinstance(client, RedisCluster):
        return None
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        return None
    # A plain connection of the pool's transport (TCP, TLS or Unix socket), not the pool's class: the tracking
    # connection speaks RESP2 pub/sub and must not count as one of the pool's.
    transport: type[AbstractConnection] = Connection
    for kind in (SSLConnection, UnixDomainSocketConnection):
        if issubclass(pool.connection_class, kind):
            transport = kind
    # No read timeout: the connection waits for invalidations as long as there are none, and the cache's watchdog
    # is what gives up on a silent server (a per-call timeout such as ResilientBackend's would drop it when idle).
    options = {**pool.connection_kwargs, "protocol": 2, "health_check_interval": 0, "socket_timeout": None}
    return TrackedCache(lambda: transport(**options), prefix, max_entries)


def _unavailable(exc: RedisError | RedisClusterException) -> BackendUnavailable:
    if isinstance(exc, RedisTimeoutError):
        return BackendUnavailable("redis did not answer in time")
    if isinstance(exc, RedisConnectionError):
        return BackendUnavailable("redis cannot be reached")
    if _refused_now(exc):
        reason = str(exc).split(":", 1)[0][:80] if type(exc) is ResponseError else type(exc).__name__
        return BackendUnavailable(f"redis cannot serve the command now ({reason})")
    return BackendUnavailable(f"redis failed: {type(exc).__name__}")


def _refused_now(exc: Exception) -> bool:
    return isinstance(exc, _REFUSED_NOW) or (isinstance(exc, ResponseError) and str(exc).startswith(_REFUSED_NOW_CODES))
