-- Store an imported legacy session (sessionhub.legacy) unless its marker says it was imported before: then even an
-- adopted or ended one stays as it is, so re-running a migration never brings a session back.
--
-- KEYS: session index marker user?
-- ARGV: now:int id tag alias_id idle_deadline:int absolute_deadline:int ...fields
-- Returns 1 when stored, 0 when imported before.
if redis.call('EXISTS', marker_key) == 1 then return 0 end
store(session_key, index_key, user_key, id, now, idle_deadline, absolute_deadline, fields)
redis.call('SET', marker_key, alias_id, 'PX', absolute_deadline - now)
return 1
