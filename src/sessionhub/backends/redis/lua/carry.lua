-- The first step of a login across two slots (Redis Cluster): what the previous session carries over, read
-- without touching it, so that a refused login leaves it as it was.
--
-- FLAGS: allow-oom
-- KEYS: previous previous_index
-- ARGV: now:int previous_id previous_tag user ...removed
-- `removed` are the data fields the caller removed.
-- Returns field/value pairs, none when nothing carries over.
local previous, meta = read_live(previous_tag, previous_id, previous_index_key, now)
if not previous then return {} end
local dropped = {}
for _, name in ipairs(removed) do dropped[name] = true end
return carried_from(previous, meta, user, dropped)
