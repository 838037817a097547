-- Store a batch of imported legacy sessions (sessionhub.legacy), or bring each up to date with its source record:
-- one call per batch (per slot on Redis Cluster), as a migration moves thousands a second. The marker beside each
-- session is a hash: `s`, the alias id until the browser adopts the session, then `adopted`; `d`, the digest of the
-- source record imported. A marker outlives its session, so re-running a migration never brings an adopted or
-- ended session back:
--   no marker                           -> store it: 'new'
--   same digest                         -> 'unchanged'; a session still waiting for its browser gets the later
--                                          deadline the legacy store gave it (a user active there keeps it alive)
--   new digest, waiting for its browser -> nobody holds a token for it, so nobody else wrote it: replace it, 'updated'
--   new digest, adopted since           -> both sides changed; sessionhub's copy is kept: 'conflict_adopted'
--   new digest, ended since             -> revoked (or expired) in sessionhub; it stays ended: 'conflict_ended'
-- sessionhub.backends.base.import_outcome is the same table in Python (the memory backend's).
--
-- Each session's alias_ttl says how long its legacy alias must live (the session's idle deadline), or 0 when there
-- must be none (adopted or ended); a waiting session gets its alias again on every pass, which repairs an import
-- that stopped before its alias was written. The alias is in the alias's bucket: on one Redis the script writes it,
-- on Redis Cluster (another slot) the caller does, from the alias_ttl returned.
--
-- KEYS: ...keys
-- ARGV: now:int adopted batch
-- `keys`: for each session of the batch, its session, bucket index and marker keys, then its user's index when it
-- has a user, then its alias when the script writes it. `batch`: a JSON array of {id, tag, alias_id, digest,
-- idle_deadline, absolute_deadline, user, alias (booleans: whether those keys are given), fields, messages (its
-- conversation, oldest first)}. `adopted` is what a marker's state holds once adopted
-- (sessionhub.backends.base.ADOPTED).
-- Returns outcome, alias_ttl for each session in order.

local function import_one(session_key, index_key, marker_key, user_key, s, later)
  local id, tag, idle_deadline, absolute_deadline = s.id, s.tag, s.idle_deadline, s.absolute_deadline
  local state, imported = unpack(redis.call('HMGET', marker_key, 's', 'd'))
  if state then
    local waiting = state ~= adopted and live_meta(tag, id, index_key, now)
    if imported == s.digest then
      if not waiting then return 'unchanged', 0 end
      if idle_deadline <= tonumber(waiting.e) then return 'unchanged', tonumber(waiting.e) - now end
      local absolute = math.max(absolute_deadline, tonumber(waiting.x))
      redis.call('HSET', session_key, 'e', idle_deadline, 'x', absolute)
      index_session(session_key, index_key, user_key, id, now, idle_deadline, absolute, nil, later)
      redis.call('PEXPIRE', messages_key_in(tag, id), idle_deadline - now)
      extend_ttl(marker_key, absolute - now)
      return 'unchanged', idle_deadline - now
    end
    if state == adopted then return 'conflict_adopted', 0 end
    if not waiting then return 'conflict_ended', 0 end
    redis.call('DEL', session_key, messages_key_in(tag, id))  -- what the source no longer has goes too
  end
  store(session_key, index_key, user_key, id, now, idle_deadline, absolute_deadline, s.fields, later)
  local messages = s.messages
  if #messages > 0 then
    local messages_key = messages_key_in(tag, id)
    for i = 1, #messages, 200 do redis.call('RPUSH', messages_key, unpack(messages, i, math.min(i + 199, #messages))) end
    redis.call('PEXPIRE', messages_key, idle_deadline - now)
  end
  redis.call('HSET', marker_key, 's', s.alias_id, 'd', s.digest)
  if state then extend_ttl(marker_key, absolute_deadline - now) else redis.call('PEXPIRE', marker_key, absolute_deadline - now) end
  return state and 'updated' or 'new', idle_deadline - now
end

local replies = {}
local later = {}  -- the indexes' TTLs, extended once per index after the batch
local next_key = 1
for _, s in ipairs(cjson.decode(batch)) do
  local session_key, index_key, marker_key = keys[next_key], keys[next_key + 1], keys[next_key + 2]
  next_key = next_key + 3
  local user_key, alias_key
  if s.user then user_key, next_key = keys[next_key], next_key + 1 end
  if s.alias then alias_key, next_key = keys[next_key], next_key + 1 end
  local outcome, alias_ttl = import_one(session_key, index_key, marker_key, user_key, s, later)
  if alias_key and alias_ttl > 0 then redis.call('SET', alias_key, s.id, 'PX', alias_ttl) end
  replies[#replies + 1] = outcome
  replies[#replies + 1] = alias_ttl
end
extend_ttls_now(later)
return replies
