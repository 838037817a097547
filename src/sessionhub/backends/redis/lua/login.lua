-- Sign a user in: a new session in the user's bucket replaces the previous one, whose data and kind carry over
-- when it is anonymous or the same user's, and so do its messages. The previous session is deleted unless the
-- limit refuses the login.
--
-- ONCE
-- KEYS: session index user previous? previous_index?
-- All in one slot, or on a single server. Across two slots of a Redis Cluster, RedisBackend.login passes no
-- previous keys and puts what carry.lua read into the new session's fields.
-- ARGV: now:int id tag limit:int evict idle_deadline:int absolute_deadline:int user previous_id previous_tag
--   audit:audit field_count:int change_count:int ...values
-- `values` are the new session's `field_count` field/value entries, the caller's `change_count` changed-data
-- entries, then the removed data fields. The changes apply where the previous data goes: into the new session when
-- it carries over or when there is no previous session, nowhere when it belongs to someone else or ended meanwhile.
-- Returns {fields of the new session, evicted ids}.
local first_change = field_count + 1
local first_removed = first_change + change_count
local new_fields = {}
for i = 1, field_count do new_fields[i] = values[i] end
local removed = {}
for i = first_removed, #values do removed[values[i]] = true end
-- With no previous session the caller's changes are the whole data; otherwise they go wherever its data goes.
local carried = not previous_key
local previous_user = nil
-- Across two slots (no previous keys) the caller names the previous session only when something carried over.
local replaced = (not previous_key and previous_id ~= '') and previous_id or nil
if previous_key then
  local previous, meta = read_live(previous_tag, previous_id, previous_index_key, now)
  if previous then
    replaced = previous_id
    previous_user = meta.u
    local carry = carried_from(previous, meta, user, removed)
    carried = #carry > 0
    for _, value in ipairs(carry) do new_fields[#new_fields + 1] = value end
  end
end
-- Appended last so that, field by field, the caller's change wins over the carried value (HSET applies in order).
if carried then
  for i = first_change, first_removed - 1 do new_fields[#new_fields + 1] = values[i] end
end
local evicted = make_room(tag, user_key, index_key, now, limit, evict == '1', previous_id, user, audit, id)
if not evicted then return limit_refused() end
local messages = messages_key_in(tag, id)
if previous_key and carried and redis.call('EXISTS', messages_key_in(previous_tag, previous_id)) == 1 then
  redis.call('RENAME', messages_key_in(previous_tag, previous_id), messages)
end
if previous_key then
  forget(previous_tag, previous_id, previous_index_key, user_key_in(previous_tag, previous_user))
end
store(session_key, index_key, user_key, id, now, idle_deadline, absolute_deadline, new_fields)
redis.call('PEXPIRE', messages, idle_deadline - now)
log_event(tag, user, now, audit, 'login', id, {related = replaced})
return {redis.call('HGETALL', session_key), evicted}
