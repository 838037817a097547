-- Move a live session to a new id in its bucket (same data, user and deadlines, touched). A marker from the old id
-- to the new one lives until the session's absolute deadline: if the old token shows up again, it was copied.
--
-- ONCE
-- KEYS: session new_session index rotated_from
-- ARGV: now:int id new_id tag audit:audit
-- Returns the session's fields under the new id, or nil when the old one is not live.
local fields, meta = read_live(tag, id, index_key, now)
if not fields then return false end
local moved = move_session(tag, id, new_id, index_key, now, meta)
redis.call('SET', rotated_from_key, new_id .. ':' .. now, 'PX', tonumber(meta.x) - now)
log_event(tag, meta.u, now, audit, 'rotated', new_id, {related = id})
return moved
