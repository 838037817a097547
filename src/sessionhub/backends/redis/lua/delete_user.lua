-- Delete the user's live sessions but one, logging each as revoked.
--
-- FLAGS: allow-oom
-- ONCE
-- KEYS: user index
-- ARGV: now:int tag keep user audit:audit
-- `keep` is the id to keep, or ''.
-- Returns the ids removed.
local removed = {}
for _, s in ipairs(live_user_sessions(tag, user_key, index_key, now)) do
  if s.id ~= keep then
    forget(tag, s.id, index_key, user_key)
    log_event(tag, user, now, audit, 'revoked', s.id)
    removed[#removed + 1] = s.id
  end
end
return removed
