-- Store a new session, making room under the user's limit first. A refusal writes only its `limit_reached` event.
--
-- ONCE
-- KEYS: session index user?
-- ARGV: now:int id tag limit:int evict idle_deadline:int absolute_deadline:int user audit:audit ...fields
-- `limit` 0 means none; `evict` is '1' (evict the least recently active) or '0' (refuse); `user` is '' for an
-- anonymous session; `fields` are the session hash's field/value pairs.
-- Returns the evicted ids.
local signed_in = user_key and user
local evicted = {}
if user_key then
  evicted = make_room(tag, user_key, index_key, now, limit, evict == '1', '', user, audit, id)
  if not evicted then return limit_refused() end
end
store(session_key, index_key, user_key, id, now, idle_deadline, absolute_deadline, fields)
log_event(tag, signed_in, now, audit, 'created', id)
return evicted
