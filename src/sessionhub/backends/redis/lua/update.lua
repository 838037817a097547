-- Write the data fields that changed and delete the removed ones, if the session is still live; slide its
-- deadline. Nothing is written for a session that is gone: a slow request cannot undo a logout.
--
-- KEYS: session index
-- ARGV: now:int id tag changed_count:int ...changes
-- `changes` are `changed_count` field/value pairs, then the names of the removed fields.
-- Returns 1, or 0 when the session is not live.
local meta = live_meta(tag, id, index_key, now)
if not meta then return 0 end
local last_set = 2 * changed_count
hset_from(session_key, changes, 1, last_set)
for i = last_set + 1, #changes, 200 do
  redis.call('HDEL', session_key, unpack(changes, i, math.min(i + 199, #changes)))
end
touch(tag, id, index_key, now, meta)
return 1
