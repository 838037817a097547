"""Legacy session stores that `sessionhub.migrate` reads, and `source_named`, which builds one from the options the
`sessionhub migrate` command and the `legacy_stores` setting share."""

import os
from collections.abc import Mapping, Sequence
from typing import Literal

from sessionhub.migrate.records import FieldMap
from sessionhub.migrate.sources.base import KeySpace, MigrationSource
from sessionhub.migrate.sources.flask_session import FlaskSessionSource
from sessionhub.migrate.sources.json_prefix import JsonPrefixSource
from sessionhub.migrate.sources.seeds import SeedsSource
from sessionhub.migrate.sources.starsessions import StarsessionsSource

SOURCE_NAMES = ("seeds", "starsessions", "flask-session", "json")


def source_named(
    name: str,
    *,
    prefix: str | None = None,
    user_key: str | None = None,
    serialization: Literal["msgpack", "json"] = "msgpack",
    fields: Sequence[str] = (),
    kind: str = "user",
    secret_key_env: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> MigrationSource:
    """The source `name` (one of SOURCE_NAMES) with these options; ValueError saying what does not fit. The Flask
    app's secret key is read from the environment variable `secret_key_env`, never passed as a value."""
    if name not in SOURCE_NAMES:
        raise ValueError(f"unknown legacy store {name!r}: expected one of {', '.join(SOURCE_NAMES)}")
    if secret_key_env is not None and name != "flask-session":
        raise ValueError("--secret-key-env applies to flask-session only (its SESSION_USE_SIGNER cookies)")
    if name == "seeds":
        if prefix is not None or fields or kind != "user":
            raise ValueError(
                "the seeds layout has fixed key names and kinds: --prefix, --field and --kind do not apply"
            )
        return SeedsSource()
    if name == "starsessions":
        return StarsessionsSource(prefix or "starsessions.", user_key=user_key, kind=kind)
    if name == "flask-session":
        secret_key = None
        if secret_key_env is not None:
            secret_key = environ.get(secret_key_env)
            if not secret_key:
                raise ValueError(f"the environment variable {secret_key_env} (--secret-key-env) is not set")
        return FlaskSessionSource(
            prefix or "session:", user_key=user_key, serialization=serialization, kind=kind, secret_key=secret_key
        )
    if prefix is None:
        raise ValueError("the json source needs --prefix")
    return JsonPrefixSource(prefix, fields=FieldMap.parse(list(fields)), kind=kind)


__all__ = [
    "SOURCE_NAMES",
    "FlaskSessionSource",
    "JsonPrefixSource",
    "KeySpace",
    "MigrationSource",
    "SeedsSource",
    "StarsessionsSource",
    "source_named",
]
