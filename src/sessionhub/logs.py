"""What sessionhub logs, and how its own processes (the CLI, the demo) write it: text, or JSON lines.

sessionhub logs to the `sessionhub` logger and its children (`sessionhub.security` for token abuse, token reuse
and risk; `sessionhub.asgi` for requests). Besides its message, a record carries its facts as attributes (logging's
`extra`), so that a JSON formatter or a log shipper can index them:

    event           what happened: token_abuse, token_reuse, risk_revoked, store_unavailable, store_recovered, ...
    session_id      the session's public id (never its token)
    rotated_into    the session a reused token was rotated into
    client_ip       the client's address, as the middleware recorded it
    backend         the store concerned
    error           the type of the exception that caused it
    journal_entries outage journal entries replayed or lost
    seconds         a duration (an outage, a backoff)

An application keeps its own logging setup; `JSONLinesFormatter` is there to use in it (in a dictConfig:
`{"()": "sessionhub.logs.JSONLinesFormatter"}`). The CLI and the demo apply `log_config(settings.log_format)`.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

LogFormat = Literal["text", "json"]

FIELDS: Final = ("event", "session_id", "rotated_into", "client_ip", "backend", "error", "journal_entries", "seconds")
"""The attributes sessionhub's records may carry, in the order a JSON line lists them."""

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JSONLinesFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, then the FIELDS it carries and
    the exception, if any. Other libraries' records (uvicorn's) come out as JSON lines too, without the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def log_config(log_format: LogFormat = "text", level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for a sessionhub process: sessionhub's loggers and uvicorn's to stderr, in
    `log_format`. uvicorn takes it as `log_config`."""
    formatter: dict[str, Any] = (
        {"()": JSONLinesFormatter} if log_format == "json" else {"format": TEXT_FORMAT, "datefmt": "%Y-%m-%dT%H:%M:%S"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "sessionhub", "stream": "ext://sys.stderr"}
    loggers = ("sessionhub", "uvicorn", "uvicorn.access")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"sessionhub": formatter},
        "handlers": {"stderr": handler},
        "loggers": {name: {"handlers": ["stderr"], "level": level, "propagate": False} for name in loggers},
    }


def configure_logging(log_format: LogFormat = "text", level: str = "INFO") -> None:
    logging.config.dictConfig(log_config(log_format, level))
