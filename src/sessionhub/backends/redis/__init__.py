"""Sessions in Redis: one server, a Sentinel-managed primary or a Redis Cluster. Needs the `redis` extra.

backend.py       RedisBackend: the store contract, one script call per operation
lua/             the scripts, one file each, and helpers.lua (the session rules in Lua)
scripts.py       loads a script and binds its declared KEYS and ARGV names on both sides
keys.py          the key layout
codec.py         records and events to hash fields and back
failures.py      redis-py's errors to BackendUnavailable
connect.py       a client for a URL: redis://, rediss://, unix://, redis+cluster://, redis+sentinel://
sentinel.py      following a Sentinel failover
client_cache.py  records kept in process memory while Redis tracks their keys
"""

from sessionhub.backends.redis.backend import RedisBackend
from sessionhub.backends.redis.keys import KeyLayout
from sessionhub.backends.redis.sentinel import PRIMARY_CHECK_INTERVAL

__all__ = ["PRIMARY_CHECK_INTERVAL", "KeyLayout", "RedisBackend"]
