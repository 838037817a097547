"""Names of the Redis keys (docs/key-layout.md). `<tag>` is `<key_prefix>:{<bucket>}:`, the braces making the
bucket the Redis Cluster hash tag, so that every key of a session, and of a user, is in one slot:

    <tag>s:<digest>   hash: the session. Metadata fields u (user id), k (kind), c (created), a (last active),
                      e (idle deadline), x (absolute deadline), t (idle timeout), ip, ua, rs (last client flagged);
                      data fields d:<key>, one JSON document per top-level key (codec.py).
    <tag>c:<digest>   list: the session's messages, oldest first (only once it has one).
    <tag>u:<user id>  sorted set: ids of the user's sessions (the user's bucket holds all of them).
    <tag>all          sorted set: ids of the bucket's sessions scored by idle deadline, for counting without a scan.
    <tag>ev:<user id> stream: the user's security log, capped and with a TTL.
    <tag>rf:<digest>  string: "<new id>:<time>", left by a rotation, to recognise a rotated-away token.
    <tag>m:<digest>   string: import marker of a migrated legacy session (sessionhub.legacy).
    <tag>l:<digest>   string: legacy alias, the id of the session a legacy cookie reaches, in the alias's bucket.
    <tag>op:<op id>   string: the reply of a write that must happen once, for a resend to find (scripts.py, ONCE).
    <tag>ut:<address> string: unknown session tokens a client address presented in the current window (abuse.py).

`<digest>` is a session id less its two-character bucket. The scripts name the keys they find on the way (a
user's sessions, the session a rotation marker points at) with the same rules, in lua/helpers.lua;
tests/backends/redis/test_lua_rules.py keeps the two in step.
"""

from __future__ import annotations

from sessionhub.errors import ConfigurationError
from sessionhub.tokens import bucket_for_user, bucket_of


class KeyLayout:
    """The key names of one `key_prefix`."""

    def __init__(self, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigurationError("key_prefix must not contain braces: the bucket must be the hash tag")
        self.prefix = prefix

    def tag(self, bucket: str) -> str:
        return f"{self.prefix}:{{{bucket}}}:"

    @property
    def everything(self) -> str:
        """What every key of this layout starts with."""
        return f"{self.prefix}:{{"

    def session(self, session_id: str) -> str:
        return f"{self.tag(bucket_of(session_id))}s:{session_id[2:]}"

    def messages(self, session_id: str) -> str:
        return f"{self.tag(bucket_of(session_id))}c:{session_id[2:]}"

    def user(self, user_id: str) -> str:
        return f"{self.tag(bucket_for_user(user_id))}u:{user_id}"

    def index(self, bucket: str) -> str:
        return f"{self.tag(bucket)}all"

    def events(self, user_id: str) -> str:
        return f"{self.tag(bucket_for_user(user_id))}ev:{user_id}"

    def rotated_from(self, session_id: str) -> str:
        return f"{self.tag(bucket_of(session_id))}rf:{session_id[2:]}"

    def import_marker(self, session_id: str) -> str:
        return f"{self.tag(bucket_of(session_id))}m:{session_id[2:]}"

    def legacy_alias(self, alias_id: str) -> str:
        return f"{self.tag(bucket_of(alias_id))}l:{alias_id[2:]}"

    def operation(self, key: str, operation_id: str) -> str:
        """Where a `ONCE` script called with `key` leaves its reply: in that key's slot (its tag)."""
        return f"{key[: key.index('}:') + 2]}op:{operation_id}"

    def unknown_tokens(self, address: str) -> str:
        """The counter of unknown tokens from a client address, in a bucket chosen by the address."""
        return f"{self.tag(bucket_for_user(address))}ut:{address}"
