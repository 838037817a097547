-- Count one unknown session token presented by a client address (sessionhub.abuse), in one counter that every
-- process shares: N workers give a guesser one budget, not N. The counter lives `window` ms from the first token it
-- counts. Sent twice (a resend after a broken connection), it counts that token twice: an error on the side of
-- throttling, harmless.
--
-- KEYS: counter
-- ARGV: window:int
-- Returns {tokens counted in the current window, ms until it ends}.
local count = redis.call('INCR', counter_key)
local remaining = redis.call('PTTL', counter_key)
if remaining < 0 then
  redis.call('PEXPIRE', counter_key, window)
  remaining = window
end
return {count, remaining}
