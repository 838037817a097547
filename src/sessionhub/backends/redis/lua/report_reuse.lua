-- Run when load found no session but a rotation marker: was this id rotated away more than `grace` ms ago?
-- Follows the markers to the session the token became (rotation stays in the bucket, so every key is in this
-- slot), logs token_reused for its user and, when asked, ends it.
--
-- ONCE
-- KEYS: rotated_from index
-- ARGV: now:int id tag grace:int revoke max_hops:int audit:audit
-- `revoke` is '1' or '0'; `max_hops` bounds the chain followed (MAX_ROTATION_HOPS).
-- Returns the id the token was rotated into, or nil.
local marker = redis.call('GET', rotated_from_key)
if not marker then return false end
local current, rotated_at = string.match(marker, '^(%x+):(%d+)$')
if now - tonumber(rotated_at) <= grace then return false end
for _ = 2, max_hops do
  local onward = redis.call('GET', rotated_from_key_in(tag, current))
  if not onward then break end
  current = string.match(onward, '^(%x+):')
end
local m = redis.call('HMGET', session_key_in(tag, current), 'e', 'x', 'u')
local meta = {e = m[1] or nil, x = m[2], u = m[3] or nil}
if not is_live(meta, now) then return current end
log_event(tag, meta.u, now, audit, 'token_reused', current, {related = id})
if revoke == '1' then
  forget(tag, current, index_key, user_key_in(tag, meta.u))
  log_event(tag, meta.u, now, audit, 'revoked', current)
end
return current
