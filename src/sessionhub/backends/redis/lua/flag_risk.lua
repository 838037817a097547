-- Remember the client flagged as risky on a live session and log risk_flagged, once per new client.
--
-- ONCE
-- KEYS: session
-- ARGV: now:int id tag signature risk audit:audit
-- Returns 1 when recorded, else 0.
local m = redis.call('HMGET', session_key, 'e', 'x', 'u', 'rs')
local meta = {e = m[1] or nil, x = m[2], u = m[3] or nil}
if not is_live(meta, now) or m[4] == signature then return 0 end
redis.call('HSET', session_key, 'rs', signature)
log_event(tag, meta.u, now, audit, 'risk_flagged', id, {risk = risk})
return 1
