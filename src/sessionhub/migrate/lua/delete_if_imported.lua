-- Delete a legacy record only if it still holds what was imported: its digest (as read_batch.lua computes it) is
-- the one the session's import marker keeps. A record the legacy application changed since, even a moment ago, is
-- kept: deleting it would lose the newer copy. One script, so nothing can write in between.
--
-- KEYS: the legacy key. ARGV: the digest imported. Returns 1 when deleted.
local legacy_key, imported_digest = KEYS[1], ARGV[1]
local value = redis.call('GET', legacy_key)
if value and redis.sha1hex(value) == imported_digest then return redis.call('DEL', legacy_key) end
return 0
