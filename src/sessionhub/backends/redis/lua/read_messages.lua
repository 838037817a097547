-- A login across two slots (Redis Cluster) copies a conversation that carries over in two more steps, between
-- signing in and deleting the previous session: this one reads it in the previous session's slot.
--
-- FLAGS: allow-oom
-- KEYS: messages
-- Returns the messages, oldest first.
return redis.call('LRANGE', messages_key, 0, -1)
