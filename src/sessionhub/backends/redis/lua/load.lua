-- Read a session, sliding its idle deadline when a touch is due: the one round trip of a request that only reads.
-- A read that is not due is one HGETALL and writes nothing. With no live session it says whether the id was
-- rotated away (its marker is in this bucket, so this slot), which is all a plain miss needs to know; only then
-- does the caller run report_reuse.
--
-- FLAGS: allow-oom
-- KEYS: session index rotated_from
-- ARGV: now:int id tag touch_interval:int
-- Returns {fields as stored after the read, 1 if it slid the deadline else 0}; with no live session, 1 when the id
-- was rotated away, else 0.
local fields, touched = read_and_touch(tag, id, index_key, now, touch_interval)
if fields then return {fields, touched and 1 or 0} end
return redis.call('EXISTS', rotated_from_key)
