-- Store an imported legacy session (sessionhub.legacy), or bring it up to date with its source record. The marker
-- beside the session is a hash: `s`, the alias id until the browser adopts the session, then `adopted`; `d`, the
-- digest of the source record imported. A marker outlives its session, so re-running a migration never brings an
-- adopted or ended session back:
--   no marker                           -> store it: 'new'
--   same digest                         -> 'unchanged'; a session still waiting for its browser gets the later
--                                          deadline the legacy store gave it (a user active there keeps it alive)
--   new digest, waiting for its browser -> nobody holds a token for it, so nobody else wrote it: replace it, 'updated'
--   new digest, adopted since           -> both sides changed; sessionhub's copy is kept: 'conflict_adopted'
--   new digest, ended since             -> revoked (or expired) in sessionhub; it stays ended: 'conflict_ended'
--
-- The legacy alias is in the alias's bucket (on Redis Cluster another slot), so the caller writes it: the script
-- returns {outcome, alias_ttl}, alias_ttl being how long the alias must live (the session's idle deadline), or 0
-- when there must be none (adopted or ended). A waiting session gets its alias again on every pass, which repairs
-- an import that stopped between the script and the alias.
--
-- KEYS: session index marker user?
-- ARGV: now:int id tag alias_id digest adopted idle_deadline:int absolute_deadline:int ...fields
-- `adopted` is what the marker's state holds once adopted (sessionhub.backends.base.ADOPTED).
local state, imported = unpack(redis.call('HMGET', marker_key, 's', 'd'))
if state then
  local waiting = state ~= adopted and live_meta(tag, id, index_key, now)
  if imported == digest then
    if not waiting then return {'unchanged', 0} end
    if idle_deadline <= tonumber(waiting.e) then return {'unchanged', tonumber(waiting.e) - now} end
    local absolute = math.max(absolute_deadline, tonumber(waiting.x))
    redis.call('HSET', session_key, 'e', idle_deadline, 'x', absolute)
    index_session(session_key, index_key, user_key, id, now, idle_deadline, absolute, nil)
    extend_ttl(marker_key, absolute - now)
    return {'unchanged', idle_deadline - now}
  end
  if state == adopted then return {'conflict_adopted', 0} end
  if not waiting then return {'conflict_ended', 0} end
  redis.call('DEL', session_key)  -- data keys the source no longer has go too
end
store(session_key, index_key, user_key, id, now, idle_deadline, absolute_deadline, fields)
redis.call('HSET', marker_key, 's', alias_id, 'd', digest)
extend_ttl(marker_key, absolute_deadline - now)
return {state and 'updated' or 'new', idle_deadline - now}
