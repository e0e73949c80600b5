"""Bulk import (migration) of licences from JSON Lines: streaming, resumable, never twice.

    zhengyin licence import FILE.jsonl --type CODE --issuer CREDIT-CODE [--seal-now]

0. The batch. Its id is given or derived from the type, the issuer and the file's SHA-256,
   so re-running the same command finds it. A batch records how many lines are done; it
   refuses another file or other options under its id, and the same file under another id
   (which would import every row twice).
1. The type's current version, the issuer's right to issue it and, when sealing now, its
   seal are looked up once. Then the file is read once for the serials its rows keep, and
   the serial counters are raised past those of the shape they allocate, in a committed
   transaction before any serial is allocated: a row without an identifier can never be
   given a serial that a later row (of any chunk, or after a crash and resume) keeps, and
   later issuance never collides with a migrated licence.
2. The file is streamed line by line past the lines already done, in chunks:
   a. every row is checked as issuance checks it (:mod:`zhengyin.registry.imports.rows`), by worker
      processes a few chunks ahead when asked (:mod:`zhengyin.registry.imports.check`); a refused
      row is reported (line, field, message) and the others go on;
   b. kept identifiers are checked against stored licences (and earlier rows);
   c. the other rows get serials as one block per issue year, in a short transaction;
   d. sealing now, the pages are certified and stored by a :class:`LicenceSealing`;
      otherwise the PDF is sealed at its first download (``pdf_sha256`` NULL);
   e. one transaction locks the batch row, checks no other run advanced it, bulk-inserts
      licences, issue events, seal uses and row errors, advances the batch and appends the
      audit entries (:mod:`zhengyin.registry.imports.write`).
3. The batch is marked finished, with an audit entry.

A crash loses at most the chunk in flight: its serials become gaps and its files are
unreferenced (``zhengyin store sweep`` removes them); the re-run starts with that chunk.
Memory is bounded by the chunk size, whatever the file's length.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.core.codes import validate_credit_code
from zhengyin.core.errors import InvalidCreditCodeError
from zhengyin.signing.seals import SealService

from ..catalogue import Catalogue
from ..errors import (
    ImportBatchNotFoundError,
    ImportConflictError,
    ImportSourceError,
    NotAllowedToIssueError,
)
from ..identifiers import LicenceIdentifier
from ..issuance import IssuanceService, verify_url
from ..models import ImportBatch, Licence, LicenceStatus, LicenceType
from ..sealing import find_issuer_seal, licence_view
from ..serials import SerialAllocator
from ..statuslists import StatusLists, status_list_uri
from .bulkseal import LicenceSealing, SealJob
from .check import CheckResult, RowChecks
from .report import ImportReport
from .rows import CheckedRow, RowChecker, RowProblem
from .source import ImportSource, SourceLine
from .write import ChunkRows, WriteRefusedError, raise_counters, write_chunk

__all__ = ["ImportOptions", "ImportProgress", "ImportService", "ImportSummary", "ImportUnit",
           "default_batch_id"]

_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class ImportUnit(Protocol):
    """The services one transaction of an import uses (``zhengyin.api.runtime.Services`` is one)."""

    @property
    def session(self) -> Session:
        """The unit's session."""
        ...

    @property
    def audit(self) -> AuditLog:
        """The audit log over the session."""
        ...

    @property
    def catalogue(self) -> Catalogue:
        """Licence types."""
        ...

    @property
    def seals(self) -> SealService:
        """The seal registry."""
        ...


@dataclass(frozen=True)
class ImportOptions:
    """What to import as whom."""

    type_code: str
    issuer_code: str
    actor: str
    client_id: str | None = None
    seal_now: bool = False
    batch_id: str | None = None
    chunk_rows: int = 2000


@dataclass(frozen=True)
class ImportProgress:
    """Where a run is: lines done, rows imported and failed, bytes read of the file."""

    batch_id: str
    rows_done: int
    imported: int
    failed: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class ImportSummary:
    """The state of a batch after a run (or when looked up)."""

    batch_id: str
    type_code: str
    issuer_code: str
    seal_now: bool
    rows_done: int
    imported: int
    failed: int
    finished: bool
    resumed_after: int = 0

    @classmethod
    def of(cls, batch: ImportBatch, resumed_after: int = 0) -> ImportSummary:
        """From the batch row."""
        return cls(batch.id, batch.type_code, batch.issuer_code, batch.seal_now,
                   batch.rows_done, batch.imported, batch.failed,
                   batch.finished_at is not None, resumed_after)


def default_batch_id(type_code: str, issuer_code: str, source_sha256: str) -> str:
    """The batch id of a file imported as a type by an issuer: re-runs find it."""
    return hashlib.sha256(f"{type_code}|{issuer_code}|{source_sha256}".encode()
                          ).hexdigest()[:32]


@dataclass
class _Run:
    """What stays fixed during one run."""

    batch_id: str
    options: ImportOptions
    licence_type: LicenceType
    checker: RowChecker
    seal_id: str | None
    rows_done: int
    imported: int
    failed: int


class ImportService:
    """Runs and reports bulk imports; each chunk is its own unit of work."""

    def __init__(self, units: Callable[[], AbstractContextManager[ImportUnit]], *,
                 base_url: str, sealing: LicenceSealing | None = None,
                 check_workers: int = 0) -> None:
        self._units = units
        self._base_url = base_url
        self._sealing = sealing
        self._check_workers = check_workers

    # ------------------------------------------------------------------ run

    def run(self, path: Path, options: ImportOptions, *, clock: Callable[[], datetime],
            progress: Callable[[ImportProgress], None] | None = None) -> ImportSummary:
        """Import (or resume importing) ``path``; see the module docstring for the steps."""
        if options.seal_now and self._sealing is None:
            raise ImportSourceError("sealing now needs a sealing pool",
                                    hint="import without --seal-now to seal at first download")
        source = ImportSource.open(path)
        run = self._start(source, options, clock())
        self._reserve_kept(run, source)
        resumed_after = run.rows_done
        report = progress or (lambda _progress: None)
        # Chunks in flight: checked ahead by the pool, written in order here.
        pending: deque[tuple[list[SourceLine], datetime, Future[CheckResult]]] = deque()
        with RowChecks(run.checker, workers=self._check_workers) as checks:
            depth = self._check_workers + 1 if checks.parallel else 0
            for lines in self._chunks(source, run.rows_done, options.chunk_rows):
                at = clock()
                pending.append((lines, at, checks.submit([(line.row, line.data)
                                                          for line in lines], at)))
                while len(pending) > depth:
                    done_lines, done_at, checked = pending.popleft()
                    self._chunk(run, done_lines, checked.result(), done_at)
                    report(self._progress(run, done_lines[-1].offset, source.size))
            while pending:
                done_lines, done_at, checked = pending.popleft()
                self._chunk(run, done_lines, checked.result(), done_at)
                report(self._progress(run, done_lines[-1].offset, source.size))
        report(self._progress(run, source.size, source.size))
        return self._finish(run, clock(), resumed_after)

    def _reserve_kept(self, run: _Run, source: ImportSource) -> None:
        """Step 1b: raise the serial counters past every serial the rest of the file keeps.

        Committed before any serial is allocated, so no row of this file (in any chunk,
        in this run or a resumed one) is given a serial that a later row keeps, and no
        other import or issuance is from now on either. Streams the file (only the
        highest value per year is kept in memory).
        """
        if not source.names_serials:
            return
        highest: dict[int, int] = {}
        for line in source.lines(skip=run.rows_done):
            kept = run.checker.kept_counter_value(line.data)
            if kept is not None and kept[1] > highest.get(kept[0], 0):
                highest[kept[0]] = kept[1]
        if highest:
            with self._units() as unit:
                raise_counters(unit.session, run.licence_type.code, run.checker.issuer_code,
                               sorted(highest.items()))

    @staticmethod
    def _chunks(source: ImportSource, skip: int, size: int) -> Iterator[list[SourceLine]]:
        chunk: list[SourceLine] = []
        for line in source.lines(skip=skip):
            chunk.append(line)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    @staticmethod
    def _progress(run: _Run, offset: int, size: int) -> ImportProgress:
        return ImportProgress(run.batch_id, run.rows_done, run.imported, run.failed, offset,
                              size)

    def _start(self, source: ImportSource, options: ImportOptions, at: datetime) -> _Run:
        """Step 0 and 1: find or create the batch, look the type, issuer and seal up."""
        try:
            issuer_code = validate_credit_code(options.issuer_code).value
        except InvalidCreditCodeError as exc:
            raise ImportSourceError(f"issuer: {exc.message}") from None
        batch_id = options.batch_id or default_batch_id(
            options.type_code.upper(), issuer_code, source.sha256)
        if not _BATCH_ID.match(batch_id):
            raise ImportSourceError("a batch id is 1 to 32 characters of A-Z, a-z, 0-9, _ and -")
        with self._units() as unit:
            licence_type = unit.catalogue.current(options.type_code)
            issuer_name = unit.catalogue.issuer_name(licence_type.code, issuer_code)
            if issuer_name is None:
                raise NotAllowedToIssueError(
                    f"organisation {issuer_code} may not issue licence type "
                    f"{licence_type.code} ({licence_type.name})",
                    hint="an administrator adds issuers to the type's definition",
                )
            seal_id = None
            if options.seal_now:
                seal_id = find_issuer_seal(unit.session, issuer_code, licence_type.seal_types,
                                           at).id
            batch = self._batch(unit, batch_id, source, options=options,
                                type_code=licence_type.code, issuer_code=issuer_code, at=at)
            return _Run(batch.id, options, licence_type,
                        RowChecker(licence_type, issuer_code, issuer_name), seal_id,
                        batch.rows_done, batch.imported, batch.failed)

    def _batch(self, unit: ImportUnit, batch_id: str, source: ImportSource, *,
               options: ImportOptions, type_code: str, issuer_code: str,
               at: datetime) -> ImportBatch:
        session = unit.session
        batch = session.get(ImportBatch, batch_id)
        if batch is None:
            other = session.scalar(
                select(ImportBatch.id).where(ImportBatch.source_sha256 == source.sha256)
                .where(ImportBatch.type_code == type_code)
                .where(ImportBatch.issuer_code == issuer_code).limit(1))
            if other is not None:
                raise ImportConflictError(
                    f"this file was imported as batch {other}; importing it as {batch_id} "
                    "would import every row twice",
                    hint=f"re-run with --batch-id {other} (or none) to resume that batch",
                )
            try:
                with session.begin_nested():
                    session.add(ImportBatch(
                        id=batch_id, type_code=type_code, issuer_code=issuer_code,
                        source_sha256=source.sha256, seal_now=options.seal_now, imported=0,
                        failed=0, rows_done=0, created_at=at, created_by=options.actor))
            except IntegrityError:
                raise ImportConflictError(f"batch {batch_id} was started concurrently",
                                          hint="re-run the command to resume it") from None
            unit.audit.append(actor=options.actor, action="licence.import_started",
                              object_type="import_batch", object_id=batch_id, at=at,
                              details={"type": type_code, "issuer": issuer_code,
                                       "source_sha256": source.sha256,
                                       "seal_now": options.seal_now})
            return session.get_one(ImportBatch, batch_id)
        wanted = (type_code, issuer_code, source.sha256, options.seal_now)
        found = (batch.type_code, batch.issuer_code, batch.source_sha256, batch.seal_now)
        if wanted != found:
            names = ("type", "issuer", "file (SHA-256)", "seal-now")
            differs = ", ".join(name for name, a, b in zip(names, wanted, found, strict=True)
                                if a != b)
            raise ImportConflictError(
                f"batch {batch_id} was started with another {differs}",
                hint="resume it with the same file and options, or use a new --batch-id",
            )
        return batch

    # ------------------------------------------------------------------ chunks

    def _chunk(self, run: _Run, lines: list[SourceLine], checked: CheckResult,
               at: datetime) -> None:
        good: list[CheckedRow] = []
        chunk = ChunkRows(run.batch_id, run.options.actor, run.options.client_id, at)
        kept: set[str] = set()
        for line, result in zip(lines, checked, strict=True):
            if isinstance(result, list):
                chunk.problems += result
            elif result.identifier is not None and str(result.identifier) in kept:
                chunk.problems.append(RowProblem(line.row, "identifier",
                                                 "the same identifier is on an earlier row"))
            else:
                if result.identifier is not None:
                    kept.add(str(result.identifier))
                good.append(result)
        serials = self._serials(run, good, kept, chunk.problems, at)
        for row in good:
            if row.row in serials:
                chunk.licences.append(self._licence_row(run, row, serials[row.row], at))
        if chunk.licences:
            self._entries(chunk.licences, at)
        if run.seal_id is not None and chunk.licences:
            self._seal(run, chunk)
        start, end = run.rows_done, lines[-1].row
        try:
            imported, failed = self._write(run, chunk, start, end, careful=False)
        except WriteRefusedError:
            imported, failed = self._write(run, chunk, start, end, careful=True)
        run.rows_done, run.imported, run.failed = end, run.imported + imported, \
            run.failed + failed

    def _serials(self, run: _Run, good: list[CheckedRow], kept: set[str],
                 problems: list[RowProblem], at: datetime) -> dict[int, str]:
        """Steps b and c: the serial of every row that may be written, by row number."""
        type_code, issuer = run.licence_type.code, run.checker.issuer_code
        serials: dict[int, str] = {}
        with self._units() as unit:
            session = unit.session
            if run.seal_id is not None:
                unit.seals.require_usable(run.seal_id, client_id=None, at=at)
            if kept:
                taken = set(session.scalars(
                    select(Licence.identifier).where(Licence.identifier.in_(sorted(kept)))))
                for row in good:
                    if row.identifier is not None and str(row.identifier) in taken:
                        problems.append(RowProblem(row.row, "identifier",
                                                   "a licence with this identifier exists"))
                    elif row.identifier is not None:
                        serials[row.row] = row.identifier.serial
                raise_counters(session, type_code, issuer,
                               [row.counter_value for row in good
                                if row.row in serials and row.counter_value is not None])
            fresh = sorted((row for row in good if row.identifier is None),
                           key=lambda row: row.issue_day.year)
            for year, rows in groupby(fresh, key=lambda row: row.issue_day.year):
                batch = list(rows)
                first = SerialAllocator().allocate(session, type_code, issuer, year,
                                                   count=len(batch))
                for offset, row in enumerate(batch):
                    serials[row.row] = SerialAllocator.serial(year, first + offset)
        return serials

    def _entries(self, rows: list[dict[str, Any]], at: datetime) -> None:
        """Each row's status-list entry, drawn (and committed) before any PDF is rendered;
        a chunk that then fails leaves unused entries, which read valid like free ones."""
        with self._units() as unit:
            entries = StatusLists(unit.session, base_url=self._base_url).allocate(
                at, len(rows))
        for row, (list_id, index) in zip(rows, entries, strict=True):
            row.update(status_list_id=list_id, status_list_index=index)

    def _licence_row(self, run: _Run, row: CheckedRow, serial: str,
                     at: datetime) -> dict[str, Any]:
        licence_type, issuer = run.licence_type, run.checker.issuer_code
        version = row.identifier.version if row.identifier is not None else 1
        identifier = str(LicenceIdentifier(licence_type.code, issuer, serial, version))
        printed = row.printed_number or IssuanceService.printed_number(
            licence_type, issuer, serial, row.issue_day, row.holder_code)
        return {
            "identifier": identifier, "type_id": licence_type.id,
            "type_code": licence_type.code, "issuer_code": issuer,
            "issuer_name": run.checker.issuer_name, "serial": serial, "version": version,
            "printed_number": printed[:64], "holder_kind": row.holder_kind,
            "holder_code": row.holder_code, "holder_name": row.holder_name,
            "fields": row.fields, "issued_at": row.issued_at, "valid_from": row.valid_from,
            "valid_until": row.valid_until, "status": LicenceStatus.VALID,
            "status_changed_at": row.issued_at, "pdf_sha256": None, "signed_sha256": None,
            "pdf_size": None,
            "seal_id": None, "previous_id": None, "superseded_by_id": None,
            "created_by": run.options.actor, "import_batch_id": run.batch_id,
            "import_row": row.row, "status_list_id": None, "status_list_index": None,
        }

    def _seal(self, run: _Run, chunk: ChunkRows) -> None:
        """Step d: certify and store every page of the chunk."""
        assert self._sealing is not None and run.seal_id is not None
        jobs = []
        for row in chunk.licences:
            licence = Licence(**row)  # transient: only read by the view and the digest
            jobs.append(SealJob(licence_view(
                licence, run.licence_type, verify_url=verify_url(self._base_url,
                                                                 row["identifier"]),
                status_uri=status_list_uri(self._base_url, row["status_list_id"])),
                run.seal_id, chunk.at))
            chunk.input_digests.append(IssuanceService.data_digest(licence))
        for row, sealed in zip(chunk.licences, self._sealing.seal_all(jobs), strict=True):
            row.update(pdf_sha256=sealed.sha256, signed_sha256=sealed.signed_sha256,
                       pdf_size=sealed.size, seal_id=run.seal_id)

    def _write(self, run: _Run, chunk: ChunkRows, start: int, end: int, *,
               careful: bool) -> tuple[int, int]:
        """Step e, in one transaction."""
        with self._units() as unit:
            done = unit.session.scalar(
                select(ImportBatch.rows_done).where(ImportBatch.id == run.batch_id)
                .with_for_update())
            if done != start:
                raise ImportConflictError(
                    f"batch {run.batch_id} advanced to line {done} in another run",
                    hint="only one run of a batch at a time; re-run later to resume",
                )
            return write_chunk(unit.session, unit.audit, chunk, rows_done=end,
                               careful=careful)

    def _finish(self, run: _Run, at: datetime, resumed_after: int) -> ImportSummary:
        with self._units() as unit:
            batch = unit.session.get_one(ImportBatch, run.batch_id, with_for_update=True)
            if batch.finished_at is None:
                batch.finished_at = at
                unit.audit.append(
                    actor=run.options.actor, action="licence.import_finished",
                    object_type="import_batch", object_id=batch.id, at=at,
                    details={"rows": batch.rows_done, "imported": batch.imported,
                             "failed": batch.failed})
            return ImportSummary.of(batch, resumed_after)

    # ------------------------------------------------------------------ reads

    def summary(self, batch_id: str, *, issuer_code: str | None = None) -> ImportSummary:
        """A batch's state; ``issuer_code`` limits the lookup to that issuer's batches."""
        with self._units() as unit:
            return ImportSummary.of(self._own(unit.session, batch_id, issuer_code))

    def problems(self, batch_id: str, *, issuer_code: str | None = None) -> Iterator[RowProblem]:
        """Every row problem of a batch, in row order, read in pages."""
        with self._units() as unit:
            self._own(unit.session, batch_id, issuer_code)
        yield from ImportReport(self._units, batch_id).problems()

    @staticmethod
    def _own(session: Session, batch_id: str, issuer_code: str | None) -> ImportBatch:
        batch = session.get(ImportBatch, batch_id)
        if batch is None or (issuer_code is not None and batch.issuer_code != issuer_code):
            raise ImportBatchNotFoundError(f"no import batch {batch_id!r}")
        return batch
