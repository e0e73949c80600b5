"""The seal-use log (用印记录): one row per stamp, listed and exported per seal."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog, AuditRecord

from .models import SealUse, SignatureLevel

__all__ = ["SealUseFilter", "SealUseLog", "UseEntry"]

_USES = cast(Table, SealUse.__table__)

CSV_COLUMNS = ("id", "at", "seal_id", "client_id", "actor", "case_number", "purpose",
               "document_name", "input_sha256", "output_sha256", "field_name", "level",
               "placement", "job_id")


@dataclass(frozen=True)
class SealUseFilter:
    """Which uses to list: every field narrows the result."""

    seal_id: str | None = None
    client_id: str | None = None
    case_number: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class UseEntry:
    """One use to record (the keyword arguments of :meth:`SealUseLog.record`)."""

    seal_id: str
    client_id: str | None
    actor: str
    at: datetime
    case_number: str
    purpose: str
    document_name: str | None
    input_sha256: str
    output_sha256: str
    field_name: str
    level: SignatureLevel
    placement: dict[str, Any]
    job_id: str | None = None


def _audit_details(use: SealUse | UseEntry, use_id: int) -> dict[str, Any]:
    return {"use": use_id, "case": use.case_number, "purpose": use.purpose,
            "input_sha256": use.input_sha256, "output_sha256": use.output_sha256,
            "field": use.field_name, "level": use.level.value, "job": use.job_id}


class SealUseLog:
    """Records and reads seal uses inside the caller's unit of work."""

    def __init__(self, session: Session, audit: AuditLog) -> None:
        self._session = session
        self._audit = audit

    def record(
        self,
        *,
        seal_id: str,
        client_id: str | None,
        actor: str,
        at: datetime,
        case_number: str,
        purpose: str,
        document_name: str | None,
        input_sha256: str,
        output_sha256: str,
        field_name: str,
        level: SignatureLevel,
        placement: dict[str, Any],
        job_id: str | None = None,
    ) -> SealUse:
        """Add one use and its audit entry."""
        use = SealUse(
            seal_id=seal_id, client_id=client_id, actor=actor, at=at, case_number=case_number,
            purpose=purpose, document_name=document_name, input_sha256=input_sha256,
            output_sha256=output_sha256, field_name=field_name, level=level,
            placement=placement, job_id=job_id,
        )
        self._session.add(use)
        self._session.flush()
        self._audit.append(actor=actor, action="seal.used", object_type="seal",
                           object_id=seal_id, at=at, details=_audit_details(use, use.id))
        return use

    def insert_batches(self, entry: UseEntry, *, use_id: int
                       ) -> list[tuple[Table, list[dict[str, Any]]]]:
        """The use and its audit record as rows, for the caller to insert with its own.

        For a hot path that writes its rows in one statement
        (:func:`zhengyin.core.db.insert_together`); ``use_id`` was reserved by the caller
        (:func:`zhengyin.core.db.reserve_ids`), as the audit record names it.
        """
        audit = self._audit.outbox_batch([AuditRecord(
            actor=entry.actor, action="seal.used", object_type="seal", object_id=entry.seal_id,
            at=entry.at, details=_audit_details(entry, use_id))])
        return [(_USES, [{**vars(entry), "id": use_id}]), audit]

    def record_many(self, entries: Sequence[UseEntry]) -> list[SealUse]:
        """Add several uses with one flush and one audit-chain update (batch jobs)."""
        uses = [SealUse(**vars(entry)) for entry in entries]
        if not uses:
            return []
        self._session.add_all(uses)
        self._session.flush()
        self._audit.append_many([
            AuditRecord(actor=use.actor, action="seal.used", object_type="seal",
                        object_id=use.seal_id, at=use.at, details=_audit_details(use, use.id))
            for use in uses
        ])
        return uses

    def _query(self, where: SealUseFilter) -> Any:
        query = select(SealUse)
        if where.seal_id:
            query = query.where(SealUse.seal_id == where.seal_id)
        if where.client_id:
            query = query.where(SealUse.client_id == where.client_id)
        if where.case_number:
            query = query.where(SealUse.case_number == where.case_number)
        if where.since:
            query = query.where(SealUse.at >= where.since)
        if where.until:
            query = query.where(SealUse.at < where.until)
        return query

    def page(self, where: SealUseFilter, *, after_id: int = 0, limit: int = 100) -> list[SealUse]:
        """Uses in id order after ``after_id`` (keyset paging)."""
        query = self._query(where).where(SealUse.id > after_id).order_by(SealUse.id).limit(limit)
        return list(self._session.scalars(query))

    def iter_all(self, where: SealUseFilter, batch: int = 1000) -> Iterator[SealUse]:
        """Every matching use, fetched in batches."""
        after = 0
        while True:
            rows = self.page(where, after_id=after, limit=batch)
            if not rows:
                return
            yield from rows
            after = rows[-1].id

    def csv_rows(self, where: SealUseFilter) -> Iterator[str]:
        """The matching uses as CSV text, header first, streamed batch by batch."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        yield buffer.getvalue()
        for use in self.iter_all(where):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([
                use.id, use.at.isoformat(), use.seal_id, use.client_id or "", use.actor,
                use.case_number, use.purpose, use.document_name or "", use.input_sha256,
                use.output_sha256, use.field_name, use.level.value,
                ";".join(f"{k}={v}" for k, v in sorted(use.placement.items())),
                use.job_id or "",
            ])
            yield buffer.getvalue()
