"""What sessionhub logs: messages without a doubled prefix, facts as record attributes (sessionhub.logs.FIELDS),
JSON lines when asked, and never a token."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from sessionhub import ClientInfo
from sessionhub.logs import FIELDS, JSONLinesFormatter, log_config
from sessionhub.tokens import new_token, random_bucket
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager


def test_a_json_line_holds_the_record_and_its_fields() -> None:
    record = logging.LogRecord("sessionhub.security", logging.WARNING, __file__, 1, "session %s moved", ("s1",), None)
    record.event, record.session_id, record.client_ip, record.unrelated = "token_reuse", "s1", "198.51.100.7", "x"

    line = json.loads(JSONLinesFormatter().format(record))

    assert line.pop("time").endswith("+00:00")
    assert line == {
        "level": "warning",
        "logger": "sessionhub.security",
        "message": "session s1 moved",
        "event": "token_reuse",
        "session_id": "s1",
        "client_ip": "198.51.100.7",
    }


def test_a_json_line_carries_the_exception() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("sessionhub", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "RuntimeError: boom" in json.loads(JSONLinesFormatter().format(record))["exception"]


def test_the_process_config_names_one_formatter_per_format() -> None:
    assert log_config("json")["formatters"]["sessionhub"] == {"()": JSONLinesFormatter}
    assert "%(name)s: %(message)s" in log_config("text")["formatters"]["sessionhub"]["format"]


async def test_security_records_carry_their_facts_and_never_the_token(
    make_manager: MakeManager, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    manager = await make_manager(token_abuse_threshold=2)
    laptop = ClientInfo(ip="198.51.100.7")
    session = await manager.login(None, "amira", client=laptop)
    assert session.token is not None
    rotated = await manager.rotate(session.token)
    clock.advance(60)  # past the grace period: a reuse, not a request in flight
    with caplog.at_level(logging.INFO, logger="sessionhub"):
        await manager.get(session.token, client=laptop)
        for _ in range(2):
            await manager.get(new_token(random_bucket()), client=ClientInfo(ip="203.0.113.9"))

    by_event = {getattr(record, "event", None): record for record in caplog.records}
    reuse = by_event["token_reuse"]
    assert (reuse.name, reuse.levelno) == ("sessionhub.security", logging.WARNING)
    assert (getattr(reuse, "session_id", None), getattr(reuse, "rotated_into", None)) == (session.id, rotated.id)
    assert getattr(reuse, "client_ip", None) == "198.51.100.7"
    assert getattr(by_event["token_abuse"], "client_ip", None) == "203.0.113.9"
    formatter = JSONLinesFormatter()
    for record in caplog.records:
        assert not record.getMessage().startswith("sessionhub:")
        assert set(json.loads(formatter.format(record))) <= {"time", "level", "logger", "message", *FIELDS}
        assert session.token not in formatter.format(record)
        assert rotated.token is not None
        assert rotated.token not in formatter.format(record)
