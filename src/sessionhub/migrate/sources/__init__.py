"""Legacy session stores that `sessionhub.migrate` reads, and `source_named`, which builds one from the options the
`sessionhub migrate` command and the `legacy_stores` setting share."""

import os
from collections.abc import Mapping, Sequence
from typing import Literal

from sessionhub.migrate.records import FieldMap
from sessionhub.migrate.sources.base import KeySpace, MigrationSource
from sessionhub.migrate.sources.django import (
    AUTH_USER_KEY,
    DEFAULT_CACHE_PREFIX,
    DjangoCacheSource,
    DjangoDatabaseSource,
)
from sessionhub.migrate.sources.flask_session import FlaskSessionSource
from sessionhub.migrate.sources.json_prefix import JsonPrefixSource
from sessionhub.migrate.sources.seeds import SeedsSource
from sessionhub.migrate.sources.starsessions import StarsessionsSource

SOURCE_NAMES = ("seeds", "starsessions", "flask-session", "django-db", "django-cache", "json")
_SIGNED = ("flask-session", "django-db")
"""The sources whose records or cookies are signed with the legacy application's secret key."""


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
    """The source `name` (one of SOURCE_NAMES) with these options; ValueError saying what does not fit. The legacy
    application's secret key (Flask's, Django's SECRET_KEY) is read from the environment variable `secret_key_env`,
    never passed as a value."""
    if name not in SOURCE_NAMES:
        raise ValueError(f"unknown legacy store {name!r}: expected one of {', '.join(SOURCE_NAMES)}")
    if secret_key_env is not None and name not in _SIGNED:
        raise ValueError("--secret-key-env applies to flask-session (SESSION_USE_SIGNER) and django-db only")
    secret_key = None
    if secret_key_env is not None:
        secret_key = environ.get(secret_key_env)
        if not secret_key:
            raise ValueError(f"the environment variable {secret_key_env} (--secret-key-env) is not set")
    if name == "seeds":
        if prefix is not None or fields or kind != "user":
            raise ValueError(
                "the seeds layout has fixed key names and kinds: --prefix, --field and --kind do not apply"
            )
        return SeedsSource()
    if name == "starsessions":
        return StarsessionsSource(prefix or "starsessions.", user_key=user_key, kind=kind)
    if name == "django-db":
        if secret_key is None:
            raise ValueError("django-db needs the project's SECRET_KEY: --secret-key-env NAME (its signed data)")
        if prefix is not None:
            raise ValueError("django-db reads the django_session table: --prefix does not apply")
        return DjangoDatabaseSource(secret_key, user_key=user_key or AUTH_USER_KEY, kind=kind)
    if name == "django-cache":
        return DjangoCacheSource(prefix or DEFAULT_CACHE_PREFIX, user_key=user_key or AUTH_USER_KEY, kind=kind)
    if name == "flask-session":
        return FlaskSessionSource(
            prefix or "session:", user_key=user_key, serialization=serialization, kind=kind, secret_key=secret_key
        )
    if prefix is None:
        raise ValueError("the json source needs --prefix")
    return JsonPrefixSource(prefix, fields=FieldMap.parse(list(fields)), kind=kind)


__all__ = [
    "SOURCE_NAMES",
    "DjangoCacheSource",
    "DjangoDatabaseSource",
    "FlaskSessionSource",
    "JsonPrefixSource",
    "KeySpace",
    "MigrationSource",
    "SeedsSource",
    "StarsessionsSource",
    "source_named",
]
