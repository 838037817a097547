"""Django's session stores (`django.contrib.sessions`), for the JSON serializer (Django's default):

- **django-db**, the database engine (`SESSION_ENGINE = "django.contrib.sessions.backends.db"`, and the database
  half of `cached_db`): rows of the `django_session` table, read from a SQLite file or a PostgreSQL database
  (`sessionhub.migrate.readers.sql`). Each row's data is signed with the project's SECRET_KEY; given that key, the
  signature is checked as Django checks it (django.core.signing), and a row whose signature does not match is
  reported, never read. The lifetime is the row's `expire_date`.
- **django-cache**, the cache engine (`...backends.cache`) over Django's Redis cache: the session dict under
  `<KEY_PREFIX>:<VERSION>:django.contrib.sessions.cache<session_key>` (":1:" with the cache's defaults), the key's
  TTL its lifetime. Django's Redis cache pickles values unless its OPTIONS name a JSON serializer (Django's own
  `django.core.signing.JSONSerializer`, or django-redis's JSON or msgpack ones): pickled values are reported,
  never loaded.

The browser's `sessionid` cookie holds the session key itself. django.contrib.auth keeps the user's id under
`_auth_user_id`, which becomes the session's user (with `_auth_user_backend` and `_auth_user_hash`, it stays in the
data, so that a Django project moved onto `sessionhub.django` finds its users signed in); Django's own
`_session_expiry` gives way to the migrated deadline.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgspec

from sessionhub.legacy import LegacySession
from sessionhub.migrate.records import LegacyRecord, RecordError, session_from_data
from sessionhub.migrate.sources.base import KeySpace, MigrationSource

AUTH_USER_KEY = "_auth_user_id"
"""Where django.contrib.auth keeps the signed-in user's primary key (django.contrib.auth.SESSION_KEY)."""
DEFAULT_CACHE_PREFIX = ":1:django.contrib.sessions.cache"
_SESSION_EXPIRY_KEY = "_session_expiry"
_PICKLE_PROTOCOL_2_AND_LATER = b"\x80"


def _session_dict(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RecordError(f"the session decodes to a {type(data).__name__}, not a session dict")
    if not all(isinstance(key, str) for key in data):
        raise RecordError("the session dict has keys that are not strings")
    data.pop(_SESSION_EXPIRY_KEY, None)
    return data


class _JsonOnly:
    """The serializer handed to django.core.signing: JSON, as Django's JSONSerializer reads it, and a clear refusal
    for what PickleSerializer (Django before 5.0) wrote, before anything unpickles it."""

    def loads(self, data: bytes) -> Any:
        if data.startswith(_PICKLE_PROTOCOL_2_AND_LATER):
            raise RecordError(
                "the session data is pickled (SESSION_SERIALIZER PickleSerializer); sessionhub does not unpickle"
            )
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError:
            raise RecordError("the signed session data is not JSON") from None


class DjangoDatabaseSource(MigrationSource):
    name = "django-db"
    store = "sql"

    def __init__(
        self,
        secret_key: str | bytes,
        *,
        table: str = "django_session",
        user_key: str | None = AUTH_USER_KEY,
        kind: str = "user",
        salt: str = "django.contrib.sessions.SessionStore",
    ) -> None:
        """`secret_key`: the project's SECRET_KEY. `salt`: "django.contrib.sessions." and the qualified name of the
        SESSION_ENGINE's SessionStore class (that of the db and cached_db engines by default)."""
        if not secret_key:
            raise ValueError("the Django project's SECRET_KEY is needed to check its signed session data")
        try:
            from django.core import signing  # Django's own signing, as its sessions use it
        except ImportError:
            raise ValueError(
                "reading Django's signed sessions needs Django: pip install 'sessionhub[django]'"
            ) from None
        self._signing = signing
        self.keyspaces = (KeySpace(f"{table}:", kind),)
        self.user_key = user_key
        self.salt = salt
        self._secret_key = secret_key

    def decode(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession:
        signing = self._signing
        try:
            data = signing.loads(
                record.value.decode(),
                key=self._secret_key,
                salt=self.salt,
                serializer=_JsonOnly,
                fallback_keys=[],  # not settings.SECRET_KEY_FALLBACKS: no Django settings here
            )
        except signing.BadSignature:
            raise RecordError("its signature does not match the SECRET_KEY given (another key, or altered)") from None
        except RecordError:
            raise
        except (ValueError, zlib.error):  # not UTF-8, not base64, not zlib
            raise RecordError("the session data is not Django's signed format") from None
        return session_from_data(_session_dict(data), record, kind=keyspace.kind, user_key=self.user_key)

    def describe(self) -> str:
        return f"{super().describe()};user_key={self.user_key};salt={self.salt}"


class DjangoCacheSource(MigrationSource):
    name = "django-cache"

    def __init__(
        self, prefix: str = DEFAULT_CACHE_PREFIX, *, user_key: str | None = AUTH_USER_KEY, kind: str = "user"
    ) -> None:
        self.keyspaces = (KeySpace(prefix, kind),)
        self.user_key = user_key
        self._decoders = (msgspec.json.Decoder(), msgspec.msgpack.Decoder())

    def decode(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession:
        if record.value.startswith(_PICKLE_PROTOCOL_2_AND_LATER):
            raise RecordError(
                "the value is pickled (the Redis cache's default serializer); sessionhub does not unpickle: give the "
                "cache a JSON serializer, or migrate the database of a cached_db project"
            )
        for decoder in self._decoders:
            try:
                data = decoder.decode(record.value)
            except msgspec.DecodeError:
                continue
            return session_from_data(_session_dict(data), record, kind=keyspace.kind, user_key=self.user_key)
        raise RecordError("the value is neither JSON nor msgpack")

    def describe(self) -> str:
        return f"{super().describe()};user_key={self.user_key}"
