-- A read like RedisBackend.load (its touch in touch.lua), and the session's newest messages, in one script.
--
-- FLAGS: allow-oom
-- KEYS: session index messages
-- ARGV: now:int id tag touch_interval:int last:int
-- `last`: how many of the newest messages (-1: all).
-- Returns {fields as stored after the read, messages, message count}, or nil.
local fields = read_and_touch(tag, id, index_key, now, touch_interval)
if not fields then return false end
local messages = {}
if last < 0 then
  messages = redis.call('LRANGE', messages_key, 0, -1)
elseif last > 0 then
  messages = redis.call('LRANGE', messages_key, -last, -1)
end
return {fields, messages, redis.call('LLEN', messages_key)}
