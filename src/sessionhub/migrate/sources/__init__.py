"""Legacy session stores that `sessionhub.migrate` reads."""

from sessionhub.migrate.sources.base import KeySpace, MigrationSource
from sessionhub.migrate.sources.flask_session import FlaskSessionSource
from sessionhub.migrate.sources.json_prefix import JsonPrefixSource
from sessionhub.migrate.sources.seeds import SeedsSource
from sessionhub.migrate.sources.starsessions import StarsessionsSource

__all__ = [
    "FlaskSessionSource",
    "JsonPrefixSource",
    "KeySpace",
    "MigrationSource",
    "SeedsSource",
    "StarsessionsSource",
]
