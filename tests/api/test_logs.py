"""Structured logs (api/logs.py): one JSON object per line, citizen ID numbers masked."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from api.logs import configure_logging

ID_NUMBER = "11010519491231002X"
MASKED = "110105********002X"


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """JSON logging to a stand-in stderr; the previous logging set-up is restored."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    saved_loggers = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate,
                            logging.getLogger(name).disabled, logging.getLogger(name).level)
                     for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    # As an earlier in-process uvicorn.Config(log_level="warning") leaves it.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    configure_logging("INFO", json_output=True)
    try:
        yield stderr
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, (handlers, propagate, disabled, level) in saved_loggers.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.disabled = disabled


def _lines(capture: io.StringIO) -> list[dict[str, Any]]:
    text = capture.getvalue()
    lines = text.splitlines()
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]


def test_each_line_is_one_json_object(json_logs: io.StringIO) -> None:
    log = logging.getLogger("zhengyin.test")
    log.info("first")
    log.warning("second with %d argument", 1)
    log.error("third\nspans two lines")

    entries = _lines(json_logs)

    assert [(e["level"], e["logger"], e["message"]) for e in entries] == [
        ("INFO", "zhengyin.test", "first"),
        ("WARNING", "zhengyin.test", "second with 1 argument"),
        ("ERROR", "zhengyin.test", "third\nspans two lines"),
    ]
    assert all(isinstance(e["time"], str) and e["time"].endswith("+00:00") for e in entries)


def test_extra_fields_become_keys_and_odd_values_still_serialise(
        json_logs: io.StringIO) -> None:
    logging.getLogger("zhengyin.test").info("request", extra={"status": 200,
                                                              "path": "/seals",
                                                              "peer": object()})

    (entry,) = _lines(json_logs)

    assert entry["status"] == 200 and entry["path"] == "/seals"
    assert entry["peer"].startswith("<object object")


def test_a_citizen_id_number_in_a_message_is_masked(
        json_logs: io.StringIO) -> None:
    logging.getLogger("zhengyin.test").info("licence issued to %s", ID_NUMBER)

    captured = json_logs.getvalue()

    assert ID_NUMBER not in captured
    assert json.loads(captured)["message"] == f"licence issued to {MASKED}"


def test_a_citizen_id_number_in_the_message_text_itself_is_masked(
        json_logs: io.StringIO) -> None:
    logging.getLogger("zhengyin.test").warning(f"lookup failed for {ID_NUMBER}")

    captured = json_logs.getvalue()

    assert ID_NUMBER not in captured
    assert json.loads(captured)["message"] == f"lookup failed for {MASKED}"


def test_a_citizen_id_number_in_an_extra_field_is_masked(
        json_logs: io.StringIO) -> None:
    logging.getLogger("zhengyin.test").info("check", extra={"holder": ID_NUMBER})

    captured = json_logs.getvalue()

    assert ID_NUMBER not in captured
    assert json.loads(captured)["holder"] == MASKED


def test_a_citizen_id_number_in_an_exception_is_masked(
        json_logs: io.StringIO) -> None:
    try:
        raise ValueError(f"no licence for {ID_NUMBER}")
    except ValueError:
        logging.getLogger("zhengyin.test").exception("failed")

    captured = json_logs.getvalue()

    assert ID_NUMBER not in captured
    (entry,) = [json.loads(line) for line in captured.splitlines()]
    assert f"ValueError: no licence for {MASKED}" in entry["exception"]


def test_uvicorn_records_come_out_as_json_too(json_logs: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info("Started server process")

    (entry,) = _lines(json_logs)

    assert (entry["logger"], entry["message"]) == ("uvicorn.error", "Started server process")
