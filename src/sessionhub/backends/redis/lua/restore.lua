-- Write back a session ResilientBackend kept in memory during an outage; idempotent, so a replay interrupted by
-- another failure can simply run again. A copy here that is more recently active wins (on a tie, ours wins if it
-- changed data: a write beats a read of the same millisecond). An older copy gets our data (if it changed) and our
-- deadline, even if its own deadline passed: it was not ended, the outage kept it alive. A missing one is written,
-- unless `if_replaced_exists` asks for the replaced session to exist and it does not (it was ended elsewhere
-- meanwhile, and must not come back under any id).
--
-- KEYS: session index replaced user?
-- `replaced` is an earlier id of the same session in the same bucket, or the session itself.
-- ARGV: now:int id tag replaced_id if_replaced_exists data_changed last_active:int idle_deadline:int
--   absolute_deadline:int created:int ...fields
-- `if_replaced_exists` and `data_changed` are '1' or '0'; `fields` are the record's field/value pairs.
-- Returns 1 when written, else 0.
if now >= idle_deadline or now >= absolute_deadline then return 0 end
local deadline = idle_deadline
local stored = redis.call('HGETALL', session_key)
if #stored > 0 then
  local meta = meta_of(stored)
  local theirs = tonumber(meta.a)
  if theirs > last_active or (theirs == last_active and data_changed ~= '1') then return 0 end
  if data_changed == '1' then
    for i = 1, #stored, 2 do
      local name = stored[i]
      if string.sub(name, 1, 2) == 'd:' or name == 'ip' or name == 'ua' then redis.call('HDEL', session_key, name) end
    end
    hset_from(session_key, fields, 1, #fields)
  end
  deadline = math.max(deadline, tonumber(meta.e))
  redis.call('HSET', session_key, 'a', last_active, 'e', deadline)
elseif if_replaced_exists == '1' and redis.call('EXISTS', replaced_key) == 0 then
  return 0
else
  hset_from(session_key, fields, 1, #fields)
end
index_session(session_key, index_key, user_key, id, now, deadline, absolute_deadline, created)
local messages = messages_key_in(tag, id)
if replaced_id ~= id then
  -- An earlier id of the same session: its messages move to this one, unless this one has its own already.
  local replaced_messages = messages_key_in(tag, replaced_id)
  if redis.call('EXISTS', replaced_messages) == 1 and redis.call('EXISTS', messages) == 0 then
    redis.call('RENAME', replaced_messages, messages)
  end
  local replaced_user = redis.call('HGET', replaced_key, 'u')
  forget(tag, replaced_id, index_key, user_key_in(tag, replaced_user or nil))
end
redis.call('PEXPIRE', messages, deadline - now)
return 1
