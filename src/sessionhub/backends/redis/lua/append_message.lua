-- Append a message to a live session and keep the newest `cap`; the list shares the session's deadline, which
-- slides.
--
-- ONCE
-- KEYS: session index messages
-- ARGV: now:int id tag message cap:int replay
-- `replay` '1': not appended if the list holds it already, and the session's deadline stays (a hand-over from
-- ResilientBackend after an outage).
-- Returns the new length, or nil (nothing written) when the session is not live.
local meta = live_meta(tag, id, index_key, now)
if not meta then return false end
local replaying = replay == '1'
if not replaying or not redis.call('LPOS', messages_key, message) then
  redis.call('RPUSH', messages_key, message)
  redis.call('LTRIM', messages_key, -cap, -1)
end
if replaying then
  redis.call('PEXPIRE', messages_key, tonumber(meta.e) - now)
else
  touch(tag, id, index_key, now, meta)
end
return redis.call('LLEN', messages_key)
