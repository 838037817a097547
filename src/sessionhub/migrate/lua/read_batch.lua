-- Read a batch of legacy keys in one call rather than two commands per key: the value of each, its remaining TTL
-- (PTTL: -1 none, -2 gone) and the digest that import markers keep, so that a later pass can tell whether the
-- legacy application changed the record since its import (delete_if_imported.lua computes it the same way, here
-- on the same server). A key of another type reads as {its type}. The source is one Redis (SCAN does not walk a
-- cluster), so the keys of a batch may be anywhere.
--
-- KEYS: the batch's keys. Returns value, ttl, digest for each key in order.
local out = {}
for _, key in ipairs(KEYS) do
  local value = redis.pcall('GET', key)
  if type(value) == 'table' and value.err then value = {redis.call('TYPE', key).ok} end
  out[#out + 1] = value
  out[#out + 1] = redis.call('PTTL', key)
  out[#out + 1] = type(value) == 'string' and redis.sha1hex(value) or false
end
return out
