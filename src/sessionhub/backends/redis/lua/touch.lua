-- Slide a live session's idle deadline when a touch is due. A read is one plain HGETALL (RedisBackend.load), with
-- the checks in Python; only a read that finds a touch due (at most once per touch interval) runs this, which
-- checks again, so that two requests that both saw a touch due slide the deadline once. A session past a deadline
-- by the caller's clock, which Redis has not expired yet, is forgotten here, its messages and index entries too.
--
-- FLAGS: allow-oom
-- KEYS: session index
-- ARGV: now:int id tag touch_interval:int
-- Returns the session's fields as stored after the touch; nil when it is no longer live.
local fields = read_and_touch(tag, id, index_key, now, touch_interval)
return fields or false
