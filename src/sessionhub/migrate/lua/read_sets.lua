-- The members of a batch of set keys in one call rather than a command per key (a source's index of users: one
-- set per user, so as many keys as users). A key that is not a set reads as false: no index of the source's.
--
-- KEYS: the set keys. Returns a list of members (or false) for each key in order.
local out = {}
for i, key in ipairs(KEYS) do
  local members = redis.pcall('SMEMBERS', key)
  if type(members) == 'table' and members.err then members = false end
  out[i] = members
end
return out
