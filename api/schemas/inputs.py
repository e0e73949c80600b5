"""The shapes every input takes: text, instants, days, integers, points, free JSON.

One rule for all text that reaches the service (issue 14, "no 500 for any input"): no
control characters (Unicode category Cc: U+0000–U+001F, U+007F–U+009F), except tab,
line feed and carriage return in the few fields where several lines mean something
(reasons, legal bases). PostgreSQL refuses U+0000 in ``text`` and ``jsonb``, and no
name, code, case number or purpose needs a control character, so they are refused at the
edge with 422, never passed on to fail in the database with a 500. Lone surrogates
(U+D800–U+DFFF, not encodable as UTF-8) are refused by pydantic's own string check.

Instants are aware and lie within years 1900–9998 once converted to UTC, so adding a
validity period or a time zone offset never leaves Python's date range (year 1–9999).
Integers that reach SQL fit in 64 bits. The patterns are also in the OpenAPI document,
so clients and fuzzers see the rule.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

__all__ = [
    "INT64_MAX",
    "LINE_PATTERN",
    "TEXT_PATTERN",
    "Coordinate",
    "Cursor",
    "Day",
    "Instant",
    "Int64",
    "JsonObject",
    "Line",
    "PageNumber",
    "Text",
    "control_character",
    "instant_in_range",
    "problem_in_json",
]

# The JSON Schema (ECMA-262), Python and Rust regex engines all read these escapes alike.
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""A single line: no control character at all."""
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""Several lines: tab, line feed and carriage return allowed, no other control character."""
PATTERN_MESSAGES = {
    LINE_PATTERN: "must not contain control characters (one line of text)",
    TEXT_PATTERN: "must not contain control characters other than tab and newline",
}
"""What a pattern mismatch means, for the 422 problem (api/problems.py)."""

Line = Annotated[str, StringConstraints(pattern=LINE_PATTERN)]
"""One line of text: names, codes, case numbers, purposes, identifiers, query filters."""
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
"""Text that may span lines: reasons and legal bases."""

INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
"""An integer SQL can bind (BIGINT)."""
Cursor = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""A keyset-paging cursor (``?after=``): a row id, 0 for the first page."""
PageNumber = Annotated[int, Field(ge=-100_000, le=100_000)]
"""A page of a PDF: from 1, negative from the end (far beyond any page count we accept)."""
Coordinate = Annotated[float, Field(ge=-14_400, le=14_400, allow_inf_nan=False)]
"""A length or position in PDF points: finite, within ISO 32000-1's largest page (Annex C)."""

_FIRST_YEAR, _LAST_YEAR = 1900, 9998


def instant_in_range(value: datetime) -> datetime:
    """``value`` if it lies within years 1900–9998 in UTC, else ValueError."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise ValueError(f"must lie within years {_FIRST_YEAR}–{_LAST_YEAR} (UTC)") from None
    if not _FIRST_YEAR <= utc.year <= _LAST_YEAR:
        raise ValueError(f"must lie within years {_FIRST_YEAR}–{_LAST_YEAR} (UTC)")
    return value


def _day_in_range(value: date) -> date:
    if not _FIRST_YEAR <= value.year <= _LAST_YEAR:
        raise ValueError(f"must lie within years {_FIRST_YEAR}–{_LAST_YEAR}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(instant_in_range)]
"""A moment: ISO 8601 with a UTC offset, years 1900–9998 in UTC."""
Day = Annotated[date, AfterValidator(_day_in_range)]
"""A calendar day, years 1900–9998."""


_LINE_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def control_character(text: str, *, multiline: bool = False) -> int | None:
    """The index of the first character ``text`` may not hold, or None.

    Control characters (Cc) are refused, tab, line feed and carriage return allowed when
    ``multiline``; a lone surrogate (Python's ``json`` module lets one through) is refused
    too.
    """
    found = (_TEXT_REFUSED if multiline else _LINE_REFUSED).search(text)
    return None if found is None else found.start()


_MAX_DEPTH = 32
_MAX_NODES = 100_000


def problem_in_json(value: Any) -> str | None:
    """What makes a free-form JSON value unfit to store, or None.

    Keys are single lines; string values may span lines. Nesting is bounded (a deeply
    nested document would exhaust the recursion of whatever reads it next) and so is the
    node count; floats must be finite (JSON has no NaN, Python's ``json`` accepts it).
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    nodes = 0
    while stack:
        node, path, depth = stack.pop()
        nodes += 1
        if nodes > _MAX_NODES:
            return f"more than {_MAX_NODES} values"
        if depth > _MAX_DEPTH:
            return f"{path or 'the value'}: nested deeper than {_MAX_DEPTH} levels"
        if isinstance(node, str):
            if control_character(node, multiline=True) is not None:
                return f"{path or 'the value'}: must not contain control characters"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return f"{path or 'the value'}: must be a finite number"
        elif isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str) or control_character(key) is not None:
                    return f"{path or 'the value'}: a key must not contain control characters"
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(node))
    return None


def _fit_json(value: dict[str, Any]) -> dict[str, Any]:
    problem = problem_in_json(value)
    if problem is not None:
        raise ValueError(problem)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_fit_json)]
"""A free-form JSON object (surface fields, schemas, templates) that is fit to store."""
