"""Structured JSON logs with ID numbers masked in every record, and no row values that a
database error quotes (trust.privacy.scrub_database_values)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from zhengyin.core.privacy import mask_text, scrub_database_values

__all__ = ["configure_logging"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _safe(text: str) -> str:
    return mask_text(scrub_database_values(text))


class MaskingFilter(logging.Filter):
    """Masks citizen ID numbers and database row values in the formatted message and in
    extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _safe(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, _safe(value))
        return True


class PlainFormatter(logging.Formatter):
    """``LEVEL logger: message``, the traceback masked as the message is."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return _safe(super().formatException(ei))


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = _safe(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", *, json_output: bool = True) -> None:
    """Route the root logger (and uvicorn's) through the masking JSON handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(
        JSONFormatter() if json_output else PlainFormatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(logging.NOTSET)  # our level governs theirs
    # Our access log replaces uvicorn's (it knows the client and the request id).
    logging.getLogger("uvicorn.access").disabled = True
