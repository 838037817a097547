-- The session rules in Lua, shared by every script (scripts.py puts this file in front of each, after the `#!lua`
-- shebang that makes Redis refuse any key outside the slot of the declared ones). Each rule mirrors its Python
-- home, named beside it; tests/backends/redis/test_lua_rules.py runs both on the same cases.
--
-- Key names (keys.py, KeyLayout): `tag` is `<prefix>:{<bucket>}:`; a session id is its two-character bucket, then
-- the 32-character digest that names its keys. Scripts get the keys they can name beforehand as KEYS; these build
-- the ones found on the way (a user's sessions, the session a rotation marker points at), always in the same slot.

local function session_key_in(tag, id) return tag .. 's:' .. string.sub(id, 3) end

local function messages_key_in(tag, id) return tag .. 'c:' .. string.sub(id, 3) end

local function rotated_from_key_in(tag, id) return tag .. 'rf:' .. string.sub(id, 3) end

local function user_key_in(tag, user) if user then return tag .. 'u:' .. user end end

local function events_key_in(tag, user) return tag .. 'ev:' .. user end

-- Metadata fields of a HGETALL reply (data fields start with 'd:').
local function meta_of(fields)
  local meta = {}
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) ~= 'd:' then meta[fields[i]] = fields[i + 1] end
  end
  return meta
end

-- Set metadata fields of a HGETALL reply in place, so that it reads as the hash does after a write.
local function set_meta(fields, changed)
  for i = 1, #fields, 2 do
    local value = changed[fields[i]]
    if value ~= nil then fields[i + 1] = value end
  end
end

-- SessionRecord.is_live: the caller's clock decides, so that a session Redis has not expired yet is not served
-- past its deadline.
local function is_live(meta, now)
  return meta.e ~= nil and now < tonumber(meta.e) and now < tonumber(meta.x)
end

-- SessionRecord.touch_due: whether a read slides the idle deadline. A read within the touch interval (ms, capped
-- at a tenth of the idle timeout) of the last slide writes nothing.
local function touch_due(meta, now, interval)
  return now - tonumber(meta.a) >= math.min(interval, math.floor(tonumber(meta.t) / 10))
end

-- SessionRecord.touched: the idle deadline slides, never past the absolute one.
local function idle_deadline(meta, now)
  return math.min(now + tonumber(meta.t), tonumber(meta.x))
end

local function forget(tag, id, index, user_key)
  redis.call('DEL', session_key_in(tag, id), messages_key_in(tag, id))
  redis.call('ZREM', index, id)
  if user_key then redis.call('ZREM', user_key, id) end
end

-- A key lives at least `ttl` ms from now. With `later` (a table), not yet: the longest TTL each key needs is kept
-- there, for extend_ttls_now to apply once per key (a script over a batch shares its indexes between sessions).
local function extend_ttl(key, ttl, later)
  if later then
    if not later[key] or later[key] < ttl then later[key] = ttl end
    return
  end
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

local function extend_ttls_now(later)
  for key, ttl in pairs(later) do extend_ttl(key, ttl) end
end

-- A live session's fields and metadata; nil for a missing one, and an expired one is forgotten on the way.
local function read_live(tag, id, index, now)
  local fields = redis.call('HGETALL', session_key_in(tag, id))
  if #fields == 0 then return nil end
  local meta = meta_of(fields)
  if not is_live(meta, now) then
    forget(tag, id, index, user_key_in(tag, meta.u))
    return nil
  end
  return fields, meta
end

-- Slide the idle deadline (the session's and its messages' TTL, and its place in the bucket index). Returns the
-- new deadline.
local function touch(tag, id, index, now, meta)
  local deadline = idle_deadline(meta, now)
  redis.call('HSET', session_key_in(tag, id), 'a', now, 'e', deadline)
  redis.call('PEXPIRE', session_key_in(tag, id), deadline - now)
  redis.call('PEXPIRE', messages_key_in(tag, id), deadline - now)
  redis.call('ZADD', index, deadline, id)
  return deadline
end

-- A read: the live session's fields, its deadline slid if a touch is due, and whether it was (the fields are then
-- as the touch left them); nil when it is not live.
local function read_and_touch(tag, id, index, now, interval)
  local fields, meta = read_live(tag, id, index, now)
  if not fields then return nil end
  if not touch_due(meta, now, interval) then return fields, false end
  set_meta(fields, {a = tostring(now), e = tostring(touch(tag, id, index, now, meta))})
  return fields, true
end

-- The metadata a write needs (deadlines, timeout, user) if the session is live; nil when it is not.
local function live_meta(tag, id, index, now)
  local m = redis.call('HMGET', session_key_in(tag, id), 'e', 'x', 't', 'u')
  local meta = {e = m[1] or nil, x = m[2], t = m[3], u = m[4] or nil}
  if is_live(meta, now) then return meta end
  if meta.e then forget(tag, id, index, user_key_in(tag, meta.u)) end
  return nil
end

-- carries_over (model.py): a login keeps the previous session's data, kind and messages when it was anonymous or
-- already this user's.
local function carries_over(previous_user, user) return previous_user == nil or previous_user == user end

-- What a login carries over from the previous session: its data (less the fields the caller removed) and kind;
-- nothing when it does not carry over.
local function carried_from(fields, meta, user, removed)
  local carried = {}
  if not carries_over(meta.u, user) then return carried end
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

-- Rename a live session and its messages (rotate, adopt) within its bucket, re-indexed and touched. Returns the
-- session's fields under its new id. An index whose last member this was is gone after the ZREM; the ZADD makes it
-- anew, and it gets its expiry again.
local function move_session(tag, id, new_id, index, now, meta)
  local user_key = user_key_in(tag, meta.u)
  local lifetime = tonumber(meta.x) - now
  redis.call('RENAME', session_key_in(tag, id), session_key_in(tag, new_id))
  if redis.call('EXISTS', messages_key_in(tag, id)) == 1 then
    redis.call('RENAME', messages_key_in(tag, id), messages_key_in(tag, new_id))
  end
  redis.call('ZREM', index, id)
  if user_key then
    redis.call('ZREM', user_key, id)
    redis.call('ZADD', user_key, meta.c, new_id)
    extend_ttl(user_key, lifetime)
  end
  touch(tag, new_id, index, now, meta)
  extend_ttl(index, lifetime)
  return redis.call('HGETALL', session_key_in(tag, new_id))
end

-- HSET in chunks: unpack() of a very long argument list overflows Lua's stack.
local function hset_from(key, values, first, last)
  for i = first, last, 200 do
    redis.call('HSET', key, unpack(values, i, math.min(i + 199, last)))
  end
end

-- A stored session's expiry and its entries in the bucket index (by idle deadline) and in its user's index (by
-- creation time; `created` nil leaves its entry there as it is); an index lives as long as its latest member can
-- (`later`: see extend_ttl).
local function index_session(key, index, user_key, id, now, deadline, absolute, created, later)
  redis.call('PEXPIRE', key, deadline - now)
  redis.call('ZADD', index, deadline, id)
  extend_ttl(index, absolute - now, later)
  if user_key then
    if created then redis.call('ZADD', user_key, created, id) end
    extend_ttl(user_key, absolute - now, later)
  end
end

local function store(key, index, user_key, id, now, deadline, absolute, values, later)
  hset_from(key, values, 1, #values)
  index_session(key, index, user_key, id, now, deadline, absolute, now, later)
end

-- The user's live sessions as {id, fields, meta}, dropping what expired (index entries, and keys Redis still holds).
local function live_user_sessions(tag, user_key, index, now)
  local live = {}
  for _, id in ipairs(redis.call('ZRANGE', user_key, 0, -1)) do
    local fields = redis.call('HGETALL', session_key_in(tag, id))
    local meta = meta_of(fields)
    if is_live(meta, now) then
      live[#live + 1] = {id = id, fields = fields, meta = meta}
    else
      forget(tag, id, index, user_key)
    end
  end
  return live
end

-- Who caused a write and why (sessionhub.backends.base.Audit): the six values of an `audit:audit` argument.
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
  local key = events_key_in(tag, user)
  redis.call('XADD', key, 'MAXLEN', '~', audit.max, '*', unpack(entry))
  redis.call('PEXPIRE', key, audit.ttl)
end

-- eviction_order (model.py): the least recently active first, the oldest first among equals. `a` and `b` are
-- entries of live_user_sessions.
local function evicts_before(a, b)
  if a.meta.a ~= b.meta.a then return tonumber(a.meta.a) < tonumber(b.meta.a) end
  return tonumber(a.meta.c) < tonumber(b.meta.c)
end

-- Make room for one more session (`newcomer`) of the user: nil when the policy refuses, else the evicted ids
-- (least recently active first). `replacing` is a session about to be deleted anyway and does not count.
local function make_room(tag, user_key, index, now, limit, evict, replacing, user, audit, newcomer)
  if limit <= 0 then return {} end
  local others = {}
  for _, s in ipairs(live_user_sessions(tag, user_key, index, now)) do
    if s.id ~= replacing then others[#others + 1] = s end
  end
  local excess = #others - limit + 1
  if excess <= 0 then return {} end
  local policy = evict and 'evict_oldest' or 'reject'
  log_event(tag, user, now, audit, 'limit_reached', newcomer, {reason = policy, actor = 'system'})
  if not evict then return nil end
  table.sort(others, evicts_before)
  local evicted = {}
  for i = 1, excess do
    forget(tag, others[i].id, index, user_key)
    log_event(tag, user, now, audit, 'evicted', others[i].id, {related = newcomer, reason = 'limit', actor = 'system'})
    evicted[i] = others[i].id
  end
  return evicted
end

-- What a script returns when the user's limit refuses a new session (RedisBackend raises SessionLimitExceeded).
local function limit_refused() return redis.error_reply('SESSIONHUB_LIMIT') end
