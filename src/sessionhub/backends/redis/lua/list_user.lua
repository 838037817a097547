-- The user's live sessions, dropping what expired.
--
-- FLAGS: allow-oom
-- KEYS: user index
-- ARGV: now:int tag
-- Returns id, fields, id, fields, ...
local out = {}
for _, s in ipairs(live_user_sessions(tag, user_key, index_key, now)) do
  out[#out + 1] = s.id
  out[#out + 1] = s.fields
end
return out
