"""Flask-Session's Redis store (0.7 and later): the session dict as msgpack (the default) or JSON under
`<prefix><sid>` (prefix "session:" by default), the remaining lifetime as the key's TTL, and Flask's `_permanent`
flag beside the application's keys. The cookie holds the sid, or with `SESSION_USE_SIGNER` the sid and its
signature (itsdangerous, keyed by the Flask app's `SECRET_KEY`): given that key, each session is migrated under
the signed value, so only a cookie the legacy app signed reaches it (the signature is checked, never stripped).

Values that older Flask-Session versions pickled are reported, not read: sessionhub never unpickles.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from sessionhub.legacy import LegacySession
from sessionhub.migrate.records import LegacyRecord, RecordError, session_from_data
from sessionhub.migrate.sources.base import KeySpace, MigrationSource

_PICKLE_PROTOCOL_2_AND_LATER = b"\x80"


class FlaskSessionSource(MigrationSource):
    name = "flask-session"

    def __init__(
        self,
        prefix: str = "session:",
        *,
        user_key: str | None = None,
        serialization: Literal["msgpack", "json"] = "msgpack",
        kind: str = "user",
        secret_key: str | bytes | None = None,
    ) -> None:
        """`secret_key`: the Flask app's SECRET_KEY, when it ran with `SESSION_USE_SIGNER = True`."""
        self.keyspaces = (KeySpace(prefix, kind),)
        self._signer: Any = None
        if secret_key is not None:
            from itsdangerous import Signer  # Flask's own signing library, as Flask-Session uses it

            self._signer = Signer(secret_key, salt="flask-session", key_derivation="hmac")
        self.user_key = user_key
        # Like Flask-Session itself, try the configured format first and the other one next.
        self._decoders: list[Any] = [msgspec.msgpack.Decoder(), msgspec.json.Decoder()]
        if serialization == "json":
            self._decoders.reverse()
        self.serialization = serialization

    def cookie_value(self, legacy_id: str) -> str:
        if self._signer is None:
            return legacy_id
        signed: bytes = self._signer.sign(legacy_id)
        return signed.decode("ascii")

    def legacy_id(self, cookie: str) -> str | None:
        if self._signer is None:
            return cookie
        from itsdangerous import BadSignature

        try:
            sid: bytes = self._signer.unsign(cookie)
        except BadSignature:
            return None  # not signed by the legacy app: no session of its
        return sid.decode("ascii")

    def decode(self, record: LegacyRecord, keyspace: KeySpace) -> LegacySession:
        data = self._load(record.value)
        data.pop("_permanent", None)
        return session_from_data(data, record, kind=keyspace.kind, user_key=self.user_key)

    def _load(self, value: bytes) -> dict[str, Any]:
        if value.startswith(_PICKLE_PROTOCOL_2_AND_LATER):
            raise RecordError("value is pickled (Flask-Session before 0.7); sessionhub does not unpickle")
        for decoder in self._decoders:
            try:
                data = decoder.decode(value)
            except msgspec.DecodeError:
                continue
            if not isinstance(data, dict):
                raise RecordError(f"value decodes to a {type(data).__name__}, not a session dict")
            if not all(isinstance(key, str) for key in data):
                raise RecordError("the session dict has keys that are not strings")
            return data
        raise RecordError("value is neither msgpack nor JSON")

    def describe(self) -> str:
        signed = ";signed" if self._signer is not None else ""
        return f"{super().describe()};user_key={self.user_key};serialization={self.serialization}{signed}"
