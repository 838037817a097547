-- The second of those steps: write the conversation next to the new session, with the session's TTL.
--
-- ONCE
-- KEYS: messages
-- ARGV: ttl:int ...messages
-- Returns 1.
for i = 1, #messages, 200 do redis.call('RPUSH', messages_key, unpack(messages, i, math.min(i + 199, #messages))) end
redis.call('PEXPIRE', messages_key, ttl)
return 1
