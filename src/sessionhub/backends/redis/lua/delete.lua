-- Delete one session and its messages.
--
-- FLAGS: allow-oom
-- ONCE
-- KEYS: session index
-- ARGV: now:int id tag audit:audit
-- Returns 1 when a live session was removed (then logged as revoked), else 0.
local m = redis.call('HMGET', session_key, 'e', 'x', 'u')
local meta = {e = m[1] or nil, x = m[2], u = m[3] or nil}
forget(tag, id, index_key, user_key_in(tag, meta.u))
if not is_live(meta, now) then return 0 end
log_event(tag, meta.u, now, audit, 'revoked', id)
return 1
