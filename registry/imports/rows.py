"""Rows of a bulk import (migration): one JSON object per line, checked as issuance checks.

A row holds ``holder_kind``, ``holder_code``, ``holder_name``, ``fields`` and, as the type's
validity rule needs them, ``valid_from`` / ``valid_until``. Optional: ``printed_number``
(default: the type's pattern), ``issued_at`` (the historic issue time; a bare date means
00:00 Beijing time; default: the time of the import) and ``identifier`` or ``serial``: a
migrated licence keeps its GB/T 36904 identifier when it is well formed, its check
character is right and it names this type and issuer. Unknown keys are refused, so a
misspelt ``valid_untill`` is a row error and not a silently different licence.

Every check runs here, before any row reaches the database, so a chunk of rows is written
with bulk statements that the database does not refuse (PostgreSQL rejects NUL characters
and lone surrogates, columns have lengths). A refused row is reported with its line number,
field and message, and the import goes on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from zhengyin.core.clock import CHINA_TZ, beijing_date
from zhengyin.core.privacy import mask_text

from ..errors import RegistryError
from ..identifiers import LicenceIdentifier
from ..issuance import IssuanceService, IssueRequest
from ..models import LicenceType

__all__ = ["MAX_LINE_BYTES", "CheckedRow", "RowChecker", "RowProblem", "counter_value"]

MAX_LINE_BYTES = 1 << 20
ROW_KEYS = frozenset({
    "holder_kind", "holder_code", "holder_name", "fields", "valid_from", "valid_until",
    "printed_number", "issued_at", "identifier", "serial",
})
_REQUIRED = ("holder_kind", "holder_code", "holder_name", "fields")
# What SerialAllocator.serial() produces: the year and an eight-digit counter.
_ALLOCATED_SERIAL = re.compile(r"^(\d{4})(\d{8})$")
_LIMITS = {"holder_name": 200, "printed_number": 64}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One problem with one row: its line number, the field and what is wrong."""

    row: int
    field: str
    message: str

    def as_json(self) -> dict[str, Any]:
        """The report line."""
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """A row that passed every check; the serial may still have to be allocated."""

    row: int
    holder_kind: str
    holder_code: str
    holder_name: str
    fields: dict[str, Any]
    valid_from: date
    valid_until: date | None
    issued_at: datetime
    issue_day: date
    printed_number: str | None
    identifier: LicenceIdentifier | None

    @property
    def counter_value(self) -> tuple[int, int] | None:
        """(year, value) when a kept serial has the shape our counters allocate."""
        return counter_value(self.identifier.serial) if self.identifier is not None else None


def counter_value(serial: str) -> tuple[int, int] | None:
    """(year, counter value) of a serial of the shape :class:`SerialAllocator` allocates."""
    match = _ALLOCATED_SERIAL.match(serial)
    return (int(match[1]), int(match[2])) if match else None


class _RejectedError(Exception):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


def _text_problem(value: Any, path: str) -> tuple[str, str] | None:
    """A string PostgreSQL would refuse (NUL, lone surrogate) anywhere inside ``value``."""
    if isinstance(value, str):
        if "\x00" in value:
            return path, "contains a NUL character"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return path, "contains an unpaired surrogate (not valid Unicode)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _text_problem(key, path) or _text_problem(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _text_problem(item, f"{path}.{index}")
            if found:
                return found
    return None


def _date(document: dict[str, Any], key: str) -> date | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _RejectedError([(key, "a date YYYY-MM-DD is expected")])
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _RejectedError([(key, "a date YYYY-MM-DD is expected")]) from None


class RowChecker:
    """Checks the rows of one import: one type version, one issuer, one import time."""

    def __init__(self, licence_type: LicenceType, issuer_code: str, issuer_name: str) -> None:
        self.licence_type = licence_type
        self.issuer_code = issuer_code
        self.issuer_name = issuer_name

    def check(self, row: int, line: bytes, *, at: datetime) -> CheckedRow | list[RowProblem]:
        """The checked row, or every problem found with it."""
        try:
            return self._check(row, line, at=at)
        except _RejectedError as rejected:
            return [RowProblem(row, field, mask_text(message)[:2000])
                    for field, message in rejected.problems]

    def _check(self, row: int, line: bytes, *, at: datetime) -> CheckedRow:
        if len(line) > MAX_LINE_BYTES:
            raise _RejectedError([("", f"the line is longer than {MAX_LINE_BYTES} bytes")])
        try:
            document = json.loads(line)
        except UnicodeDecodeError:
            raise _RejectedError([("", "the line is not UTF-8")]) from None
        except ValueError as exc:
            raise _RejectedError([("", f"not JSON: {exc}")]) from None
        if not isinstance(document, dict):
            raise _RejectedError([("", "each line must be a JSON object")])
        unknown = sorted(set(document) - ROW_KEYS)
        problems = [(key, "not a field of an import row") for key in unknown]
        problems += [(key, "required") for key in _REQUIRED if document.get(key) in (None, "")]
        for key in ("holder_kind", "holder_code", "holder_name", "printed_number",
                    "identifier", "serial", "issued_at"):
            value = document.get(key)
            if value is not None and not isinstance(value, str):
                problems.append((key, "a string is expected"))
        if not isinstance(document.get("fields", {}), dict):
            problems.append(("fields", "an object is expected"))
        for key, limit in _LIMITS.items():
            value = document.get(key)
            if isinstance(value, str) and len(value.strip()) > limit:
                problems.append((key, f"longer than {limit} characters"))
        # NUL and lone surrogates reach a JSON document only as \u escapes.
        found = _text_problem(document, "") if b"\\u" in line else None
        if found:
            problems.append((found[0].lstrip("."), found[1]))
        if problems:
            raise _RejectedError(problems)

        issued_at = self._issued_at(document.get("issued_at"), at)
        issue_day = beijing_date(issued_at)
        identifier = self._identifier(document.get("identifier"), document.get("serial"))
        request = IssueRequest(
            type_code=self.licence_type.code, holder_kind=document["holder_kind"],
            holder_code=document["holder_code"], holder_name=document["holder_name"],
            fields=document["fields"], valid_from=_date(document, "valid_from"),
            valid_until=_date(document, "valid_until"),
            printed_number=document.get("printed_number"),
        )
        try:
            prepared = IssuanceService.check_request(self.licence_type, self.issuer_name,
                                                     request, today=issue_day, historic=True)
        except RegistryError as exc:
            raise _RejectedError(self._problems_of(exc, request)) from None
        printed = (request.printed_number or "").strip() or None
        if printed is None and identifier is not None:
            printed = IssuanceService.printed_number(
                self.licence_type, self.issuer_code, identifier.serial, issue_day,
                prepared.holder_code)
            if len(printed) > _LIMITS["printed_number"]:
                raise _RejectedError([("printed_number", "the type's pattern gives more than "
                                  f"{_LIMITS['printed_number']} characters")])
        return CheckedRow(
            row=row, holder_kind=prepared.holder_kind.value, holder_code=prepared.holder_code,
            holder_name=request.holder_name.strip(), fields=prepared.fields,
            valid_from=prepared.valid_from, valid_until=prepared.valid_until,
            issued_at=issued_at, issue_day=issue_day, printed_number=printed,
            identifier=identifier,
        )

    def kept_counter_value(self, line: bytes) -> tuple[int, int] | None:
        """(year, counter value) of the serial ``line`` keeps, when our counters could
        allocate it too; for reserving kept serials before any serial is allocated.

        Only lines that can name an identifier or serial are parsed (a key may be written
        with ``\\u`` escapes). A kept serial is reserved even if its row is refused later
        for another reason: that costs a gap in the counter, never a duplicate.
        """
        if b"identifier" not in line and b"serial" not in line and b"\\u" not in line:
            return None
        try:
            document = json.loads(line)
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        text, serial = document.get("identifier"), document.get("serial")
        if not isinstance(text, str | None) or not isinstance(serial, str | None):
            return None
        try:
            identifier = self._identifier(text, serial)
        except _RejectedError:
            return None
        return counter_value(identifier.serial) if identifier is not None else None

    def _problems_of(self, error: RegistryError, request: IssueRequest) -> list[tuple[str, str]]:
        """Every problem of a refused row: the checks stop at the first failing group,
        so the surface fields are checked again to report theirs too."""
        listed = [(str(item.get("field", "")), str(item.get("message", "")))
                  for item in error.problem_extra.get("errors", [])] or [("", error.message)]
        if not any(field.startswith("fields") for field, _ in listed):
            try:
                IssuanceService.validate_fields(self.licence_type, request.fields)
            except RegistryError as fields_error:
                listed += [(str(item["field"]), str(item["message"]))
                           for item in fields_error.problem_extra.get("errors", [])]
        return listed

    @staticmethod
    def _issued_at(value: str | None, at: datetime) -> datetime:
        if value is None:
            return at
        try:
            if len(value) == 10:
                moment = datetime.combine(date.fromisoformat(value), time(0), tzinfo=CHINA_TZ)
            else:
                moment = datetime.fromisoformat(value)
        except ValueError:
            raise _RejectedError([("issued_at", "an ISO 8601 date or date-time is expected")]
                                 ) from None
        if moment.tzinfo is None:
            raise _RejectedError([("issued_at", "a date-time needs its offset, e.g. +08:00")])
        if moment > at:
            raise _RejectedError([("issued_at", "lies in the future")])
        return moment

    def _identifier(self, text: str | None, serial: str | None) -> LicenceIdentifier | None:
        if text is None and serial is None:
            return None
        try:
            if text is not None:
                identifier = LicenceIdentifier.parse(text)
                field = "identifier"
            else:
                assert serial is not None
                identifier = LicenceIdentifier(self.licence_type.code, self.issuer_code,
                                               serial.strip().upper(), 1)
                field = "serial"
        except RegistryError as exc:
            raise _RejectedError([("identifier" if text is not None else "serial",
                              exc.message)]) from None
        if identifier.type_code != self.licence_type.code:
            raise _RejectedError([(field, f"names licence type {identifier.type_code}, "
                                     f"not {self.licence_type.code}")])
        if identifier.issuer_code != self.issuer_code:
            raise _RejectedError([(field, f"names issuing body {identifier.issuer_code}, "
                                     f"not {self.issuer_code}")])
        if text is not None and serial is not None \
                and serial.strip().upper() != identifier.serial:
            raise _RejectedError([("serial", "differs from the identifier's serial")])
        return identifier
