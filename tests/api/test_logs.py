"""Structured logs (api/logs.py): one JSON object per line, citizen ID numbers masked."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from zhengyin.api.logs import configure_logging

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


# --------------------------------------------------------------------------- database errors

PRINCIPAL = "91110000600037341L"  # a credit code: the ID-number masking does not touch it


def _grant_row(grant_id: str, **overrides: Any) -> Any:
    from datetime import timedelta

    from zhengyin.core.clock import utcnow
    from zhengyin.registry.models import AgentGrant

    values: dict[str, Any] = {
        "id": grant_id, "principal_code": PRINCIPAL, "principal_kind": "credit-code",
        "agent_code": ID_NUMBER, "granted_at": utcnow(),
        "expires_at": utcnow() + timedelta(days=1), "revoked_at": None,
        "granted_by": f"holder:{PRINCIPAL}"}
    values.update(overrides)
    return AgentGrant(**values)


def _integrity_error(runtime: Any, *rows: Any) -> BaseException:
    """The error the last row's insert raises, each earlier row committed first."""
    from sqlalchemy.exc import IntegrityError

    *earlier, last = rows
    for row in earlier:
        with runtime.unit_of_work() as services:
            services.session.add(row)
    with pytest.raises(IntegrityError) as caught, runtime.unit_of_work() as services:
        services.session.add(last)
    return caught.value


def test_a_database_error_carries_no_statement_parameters(runtime: Any) -> None:
    error = _integrity_error(runtime, _grant_row("g1"), _grant_row("g1"))
    text = str(error)
    assert "agent_grants" in text  # the error is about our insert...
    assert PRINCIPAL not in text and ID_NUMBER not in text  # ...but names no value


@pytest.mark.parametrize("json_output", [True, False], ids=["json", "plain"])
def test_an_integrity_errors_log_record_carries_no_row_value(
        json_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch, runtime: Any,
        json_output: bool) -> None:
    """PostgreSQL quotes the failing row in its DETAIL line ("Failing row contains (…)"):
    the log says that values were hidden instead."""
    error = _integrity_error(runtime, _grant_row("g2", principal_kind=None))
    stderr = io.StringIO()  # set here: the runtime fixture's set-up comes after json_logs'
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging("INFO", json_output=json_output)
    logging.getLogger("zhengyin.api").error("unhandled error on POST /holder/agents",
                                            exc_info=error)
    captured = stderr.getvalue()
    assert "IntegrityError" in captured and "agent_grants" in captured
    for value in (PRINCIPAL, ID_NUMBER, MASKED):
        assert value not in captured
    if runtime.engine.dialect.name == "postgresql":
        assert "Failing row contains" in str(error)  # the value is in the error itself
        assert "DETAIL: [values hidden]" in captured
