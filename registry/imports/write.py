"""Writing one chunk of imported licences: bulk statements, one transaction.

The licences, their issue events, their seal uses (sealed now) and the chunk's row errors
are inserted with multi-row statements (SQLAlchemy's insertmanyvalues: a thousand rows per
statement on PostgreSQL and SQLite), the batch's progress advances in the same
transaction, and the audit entries are appended last with one head-row update
(:meth:`zhengyin.core.audit.AuditLog.append_chained`), so the audit head's lock is held only for the
tail of the transaction.

Rows are checked before they get here, so the database should refuse nothing. If it does
anyway (a kept identifier issued concurrently, a constraint the checks do not know), the
chunk is rolled back and written again row by row under savepoints: the refused rows
become row errors and the others are imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog, AuditRecord
from zhengyin.core.db import insert_rows
from zhengyin.core.privacy import mask_text
from zhengyin.signing.models import SealUse, SignatureLevel

from ..models import (
    ImportBatch,
    ImportRowError,
    Licence,
    LicenceEvent,
    LicenceStatus,
    SerialCounter,
    TransitionAction,
)
from .rows import RowProblem

__all__ = ["ChunkRows", "WriteRefusedError", "raise_counters", "write_chunk"]

_LICENCES = cast(Table, Licence.__table__)
_EVENTS = cast(Table, LicenceEvent.__table__)
_SEAL_USES = cast(Table, SealUse.__table__)
_ERRORS = cast(Table, ImportRowError.__table__)
_ISSUED = TransitionAction.ISSUED
PURPOSE = "电子证照签发 licence issuance (bulk import)"


class WriteRefusedError(Exception):
    """The database refused a bulk statement; the chunk is written again row by row."""


@dataclass
class ChunkRows:
    """What one chunk writes: licence rows (column values), their seal inputs, problems."""

    batch_id: str
    actor: str
    client_id: str | None
    at: datetime
    licences: list[dict[str, Any]] = field(default_factory=list)
    input_digests: list[str] = field(default_factory=list)  # per licence, when sealed now
    problems: list[RowProblem] = field(default_factory=list)


def _refused(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    first = str(original).strip().splitlines()[0] if str(original).strip() else "refused"
    return mask_text(f"the database refused the row: {first}")[:2000]


def _ids(session: Session, batch_id: str, rows: list[dict[str, Any]]) -> list[int]:
    """Ids of stored licence rows, found by their unique (batch, line).

    A bulk insert (COPY on PostgreSQL), then one indexed query, instead of INSERT ...
    RETURNING: with RETURNING SQLAlchemy renders thousand-row VALUES statements that
    psycopg re-parses (uncached past 4 KB) at 0.2 s a chunk.
    """
    lines = [row["import_row"] for row in rows]
    found = {line: licence_id for line, licence_id in session.execute(
        select(Licence.import_row, Licence.id).where(Licence.import_batch_id == batch_id)
        .where(Licence.import_row >= min(lines)).where(Licence.import_row <= max(lines)))}
    return [found[line] for line in lines]


def _insert_licences(session: Session, batch_id: str, rows: list[dict[str, Any]],
                     careful: bool, problems: list[RowProblem]
                     ) -> tuple[list[dict[str, Any]], list[int]]:
    """Insert licence rows; returns the stored rows and their ids, in order."""
    if not careful:
        try:
            insert_rows(session, _LICENCES, rows)
        except (IntegrityError, DataError) as exc:
            raise WriteRefusedError(str(exc)) from exc
        return rows, _ids(session, batch_id, rows)
    stored = []
    for row in rows:
        try:
            with session.begin_nested():
                session.execute(insert(_LICENCES), [row])
            stored.append(row)
        except (IntegrityError, DataError) as exc:
            where = "identifier" if "identifier" in str(exc.orig) or "serial" in str(exc.orig) \
                else ""
            problems.append(RowProblem(int(row["import_row"]), where, _refused(exc)))
    return stored, _ids(session, batch_id, stored) if stored else []


def write_chunk(session: Session, audit: AuditLog, chunk: ChunkRows, *, rows_done: int,
                careful: bool = False) -> tuple[int, int]:
    """Insert the chunk and advance the batch to ``rows_done`` lines, inside the caller's
    transaction (which holds the batch row's lock); returns (imported, failed rows).

    Raises :class:`WriteRefusedError` (the caller rolls back and retries with
    ``careful=True``) when a bulk statement is refused.
    """
    problems = list(chunk.problems)
    digests = {row["import_row"]: digest
               for row, digest in zip(chunk.licences, chunk.input_digests, strict=False)}
    stored, ids = (_insert_licences(session, chunk.batch_id, chunk.licences, careful, problems)
                   if chunk.licences else ([], []))
    at, actor = chunk.at, chunk.actor
    imported = {"batch": chunk.batch_id}
    events = [{
        "licence_id": licence_id, "action": _ISSUED, "operation_code": _ISSUED.operation_code,
        "from_status": None, "to_status": LicenceStatus.VALID, "reason_code": None,
        "reason": None, "legal_basis": None, "effective_at": row["issued_at"],
        "recorded_at": at, "actor": actor,
        "details": {"version": row["version"], "previous": None,
                    "import": {**imported, "row": row["import_row"]}},
    } for row, licence_id in zip(stored, ids, strict=True)]
    insert_rows(session, _EVENTS, events)
    records: list[AuditRecord] = []
    sealed = [row for row in stored if row["pdf_sha256"] is not None]
    if sealed:
        uses = [{
            "seal_id": row["seal_id"], "client_id": chunk.client_id, "actor": actor, "at": at,
            "case_number": row["identifier"], "purpose": PURPOSE,
            "document_name": f"{row['identifier']}.pdf",
            "input_sha256": digests[row["import_row"]], "output_sha256": row["pdf_sha256"],
            "field_name": "Seal1", "level": SignatureLevel.B_T,
            "placement": {"kind": "licence"}, "job_id": None,
        } for row in sealed]
        insert_rows(session, _SEAL_USES, uses)
        found = {digest: use_id for digest, use_id in session.execute(
            select(SealUse.output_sha256, SealUse.id)
            .where(SealUse.output_sha256.in_([use["output_sha256"] for use in uses])))}
        use_ids = [found[use["output_sha256"]] for use in uses]
        # The same entry SealUseLog.record() appends for each use.
        records += [AuditRecord(
            actor=actor, action="seal.used", object_type="seal", object_id=use["seal_id"],
            at=at, details={"use": use_id, "case": use["case_number"], "purpose": PURPOSE,
                            "input_sha256": use["input_sha256"],
                            "output_sha256": use["output_sha256"], "field": "Seal1",
                            "level": SignatureLevel.B_T.value, "job": None},
        ) for use, use_id in zip(uses, use_ids, strict=True)]
    if problems:
        positions: dict[int, int] = {}
        error_rows = []
        for problem in sorted(problems, key=lambda p: p.row):
            position = positions[problem.row] = positions.get(problem.row, -1) + 1
            error_rows.append({"batch_id": chunk.batch_id, "row": problem.row,
                               "position": position, "field": problem.field[:200],
                               "message": problem.message})
        insert_rows(session, _ERRORS, error_rows)
    failed = len({problem.row for problem in problems})
    session.execute(
        update(ImportBatch).where(ImportBatch.id == chunk.batch_id)
        .values(rows_done=rows_done, imported=ImportBatch.imported + len(stored),
                failed=ImportBatch.failed + failed)
        .execution_options(synchronize_session=False)
    )
    records += [AuditRecord(
        actor=actor, action=f"licence.{_ISSUED.value}", object_type="licence",
        object_id=row["identifier"], at=at,
        details={"type": row["type_code"], "holder": row["holder_code"],
                 "version": row["version"], "pdf_sha256": row["pdf_sha256"],
                 "import": {**imported, "row": row["import_row"]}},
    ) for row in stored]
    audit.append_chained(records)
    return len(stored), failed


def raise_counters(session: Session, type_code: str, issuer_code: str,
                   values: list[tuple[int, int]]) -> None:
    """Make the serial counters hand out only values above kept serials of their shape.

    A migrated licence keeping serial ``2024`` + ``00000005`` would otherwise collide
    with the fifth licence issued in 2024 later. ``values`` are (year, counter value).
    """
    highest: dict[int, int] = {}
    for year, value in values:
        highest[year] = max(value, highest.get(year, 0))
    for year, value in sorted(highest.items()):
        where = ((SerialCounter.type_code == type_code)
                 & (SerialCounter.issuer_code == issuer_code) & (SerialCounter.year == year))
        raised = session.execute(
            update(SerialCounter).where(where).where(SerialCounter.next_value <= value)
            .values(next_value=value + 1).execution_options(synchronize_session=False))
        if cast(CursorResult[Any], raised).rowcount == 0 and session.scalar(
                select(SerialCounter.next_value).where(where)) is None:
            try:
                with session.begin_nested():
                    session.execute(insert(SerialCounter).values(
                        type_code=type_code, issuer_code=issuer_code, year=year,
                        next_value=value + 1))
            except IntegrityError:
                raise_counters(session, type_code, issuer_code, [(year, value)])
