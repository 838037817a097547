-- Adopt an imported session through its legacy alias, once: the marker's state must still name the alias, and
-- then says "adopted" for the rest of its life (import.lua reads it). The session moves to the new id as in a
-- rotation.
--
-- ONCE
-- KEYS: session new_session index marker
-- ARGV: now:int id new_id tag alias_id adopted
-- `adopted` is what the marker's state holds from now on (sessionhub.backends.base.ADOPTED).
-- Returns the session's fields under the new id, or nil.
if redis.call('HGET', marker_key, 's') ~= alias_id then return false end
local fields, meta = read_live(tag, id, index_key, now)
if not fields then return false end
local moved = move_session(tag, id, new_id, index_key, now, meta)
redis.call('HSET', marker_key, 's', adopted)
return moved
