"""Masking of personal identifiers before they reach logs or the audit log.

A citizen ID number (GB 11643) reveals birth date and sex; logs keep only the address
prefix and the last four characters: ``110105********002X``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["mask_id_number", "mask_text", "redact", "scrub_database_values"]

# 17 digits + digit/X, not glued to other alphanumerics (credit codes have letters).
_CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
# What database errors quote of the data: PostgreSQL's DETAIL line (a unique key's values,
# a whole failing row, a missing foreign key's value) and SQLAlchemy's statement
# parameters (engines hide them: trust.db.make_engine; this catches any other source).
_DATABASE_VALUES = re.compile(r"(DETAIL:|\[parameters:)[^\n]*")
_SECRET_KEYS = ("secret", "password", "passwd", "pin", "private", "token", "kek", "credential")
_SECRET_KEY = re.compile("|".join(_SECRET_KEYS))


def mask_id_number(number: str) -> str:
    """Mask a personal document number, keeping only what identifies its kind and tail."""
    if len(number) == 18:
        return number[:6] + "*" * 8 + number[-4:]
    if len(number) <= 4:
        return "*" * len(number)
    keep = max(1, len(number) // 4)
    return number[:keep] + "*" * (len(number) - 2 * keep) + number[-keep:]


def mask_text(text: str) -> str:
    """Mask every citizen-ID-shaped number inside free text (log messages)."""
    return _CITIZEN_ID.sub(lambda m: m.group(1) + "*" * 8 + m.group(3), text)


def scrub_database_values(text: str) -> str:
    """``text`` without the row values a database error quotes (personal data): the
    lines stay, saying that something was hidden."""
    return _DATABASE_VALUES.sub(lambda m: m.group(1) + " [values hidden]", text)


def redact(value: Any) -> Any:
    """A JSON-safe copy with secrets removed and ID numbers masked.

    Floats become strings so that the audit hash survives a JSONB round trip.
    """
    # Bulk import redacts thousands of entries a second: common cases first.
    if isinstance(value, str):
        # An ID number has 18 characters: shorter text cannot hold one.
        return mask_text(value) if len(value) >= 18 else value
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            key_text = str(key)
            if _SECRET_KEY.search(key_text.lower()):
                result[key_text] = "[redacted]"
            else:
                result[key_text] = redact(item)
        return result
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    return mask_text(str(value))
