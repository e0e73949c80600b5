"""Batch stamping: many PDFs, one seal, a warm worker pool, a job with counts and a zip.

Signing is CPU-bound Python (the GIL), so one process per core does the work; threads and
asyncio give nothing (DESIGN, costs). Each worker opens its *own* key store and TSA: the
pool uses the ``forkserver`` start method, so no worker inherits a PKCS#11 session or a
database connection by ``fork`` (a PKCS#11 library must be initialised in the process that
uses it). Workers keep one warm :class:`SealStamper` per seal; a task is PDF bytes in,
sealed bytes out, plus the seal material and the revocation data it needs (no database in
the workers).

The parent authorises the job once, records one seal use per stamped document (in small
transactions as results arrive), writes the outputs into a zip and keeps the job row's
counts current, so a client polling the job sees progress. One bad file is reported in
the job's results and does not stop the others.
"""

from __future__ import annotations

import hashlib
import io
import logging
import lzma
import multiprocessing
import os
import re
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from keys import KeyStoreConfig

from .errors import SigningError, StampJobNotFoundError, StampOptionsError
from .models import SignatureLevel, StampJob, StampJobStatus
from .revocation import RevocationMaterial, validation_context
from .stamper import SealMaterial, StampOptions, StampResult
from .stamping import StampRequest, StampService, check_use_cause, placement_record
from .uselog import UseEntry

__all__ = [
    "StampJobService",
    "StampPool",
    "StampTask",
    "TSAIdentity",
    "TaskOutcome",
    "WorkerSetup",
    "documents_from_zip",
    "run_stamp_job",
    "safe_document_name",
]

MAX_DOCUMENTS = 1000
log = logging.getLogger("zhengyin.stamping")


@dataclass(frozen=True)
class TSAIdentity:
    """Our TSA's certificate and key handle, for workers to build their own TSA."""

    record_id: int
    serial_hex: str
    key_handle: str
    certificate_der: bytes
    chain_der: tuple[bytes, ...]


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker opens once (picklable)."""

    keystore: KeyStoreConfig
    tsa_url: str | None
    tsa: TSAIdentity | None
    max_pdf_bytes: int


@dataclass(frozen=True)
class StampTask:
    """One document for a worker."""

    index: int
    name: str
    pdf: bytes
    material: SealMaterial
    options: StampOptions
    revocation: RevocationMaterial | None


@dataclass(frozen=True)
class TaskOutcome:
    """A worker's answer: a stamped document or the reason it was refused."""

    index: int
    name: str
    result: StampResult | None
    input_sha256: str
    error_code: str | None = None
    error_message: str | None = None
    error_hint: str | None = None


# ---------------------------------------------------------------------------- workers

_worker: dict[str, Any] = {}


def _init_worker(setup: WorkerSetup, environment: dict[str, str]) -> None:
    """Open this worker's key store, TSA and stamper cache."""
    # The forkserver was started with the environment of its first user; tasks must see
    # the pool owner's (SOFTHSM2_CONF, for one).
    os.environ.update(environment)
    from asn1crypto import x509

    from keys import KeyHandle, open_key_store
    from trust.models import CertificateRole
    from trust.pki import IssuedCertificate
    from trust.tsa import TimeStampAuthority

    from .stamping import StamperCache
    from .timestamps import (
        HTTPTimeStampClient,
        LocalTimeStampClient,
        PyHankoTimeStamper,
        TimeStampClient,
    )

    keystore = open_key_store(setup.keystore)
    client: TimeStampClient
    if setup.tsa_url:
        client = HTTPTimeStampClient(setup.tsa_url)
    else:
        assert setup.tsa is not None
        identity = IssuedCertificate(
            record_id=setup.tsa.record_id, serial_hex=setup.tsa.serial_hex,
            role=CertificateRole.TSA, key_handle=KeyHandle.parse(setup.tsa.key_handle),
            certificate=x509.Certificate.load(setup.tsa.certificate_der),
        )
        chain = [x509.Certificate.load(der) for der in setup.tsa.chain_der]
        client = LocalTimeStampClient(TimeStampAuthority(keystore, identity, chain))
    _worker.update(keystore=keystore, stampers=StamperCache(keystore),
                   timestamper=PyHankoTimeStamper(client), max_bytes=setup.max_pdf_bytes)


def _stamp_task(task: StampTask) -> TaskOutcome:
    level = SignatureLevel(task.options.level)
    digest = _sha256(task.pdf)
    try:
        stamper = _worker["stampers"].get(task.material)
        result = stamper.stamp(
            task.pdf, task.options,
            timestamper=None if level is SignatureLevel.B_B else _worker["timestamper"],
            validation_context=validation_context(task.revocation) if task.revocation
            else None,
            max_bytes=_worker["max_bytes"],
        )
    except SigningError as exc:
        return TaskOutcome(task.index, task.name, None, digest, exc.code, exc.message,
                           exc.hint)
    except Exception as exc:  # one bad file must not fail the batch
        return TaskOutcome(task.index, task.name, None, digest, "stamp.internal",
                           f"internal error while stamping: {type(exc).__name__}")
    return TaskOutcome(task.index, task.name, result, digest)


def _ping(hold: float) -> int:
    time.sleep(hold)  # keep this worker busy so that the next ping lands on another
    return os.getpid()


def _warm(task: StampTask, hold: float) -> int:
    _stamp_task(task)
    time.sleep(hold)
    return os.getpid()


class StampPool:
    """A pool of stamping processes, one per core by default, started and pinged warm."""

    def __init__(self, setup: WorkerSetup, *, workers: int) -> None:
        self.workers = max(1, workers)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["signing.batch", "signing.stamper"])
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_init_worker,
            initargs=(setup, dict(os.environ)),
        )
        # ProcessPoolExecutor starts workers lazily and runs the initializer before a
        # worker's first task: ping until every worker has answered, so start-up never
        # lands inside a job (REPORT §1, pool).
        pids: set[int] = set()
        for _attempt in range(50):
            futures = [self._executor.submit(_ping, 0.05) for _ in range(self.workers)]
            pids |= {future.result() for future in futures}
            if len(pids) >= self.workers:
                break
        self.pids = sorted(pids)

    def warm(self, task: StampTask) -> None:
        """Stamp ``task`` once on (very likely) every worker: stamper built, size calibrated."""
        futures = [self._executor.submit(_warm, task, 0.2) for _ in range(self.workers)]
        for future in futures:
            future.result()

    def submit(self, task: StampTask) -> Future[TaskOutcome]:
        """Stamp one document in a worker."""
        return self._executor.submit(_stamp_task, task)

    def close(self) -> None:
        """Stop the workers."""
        self._executor.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------- inputs


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Control characters (Cc) and lone surrogates: never part of a stored name (PostgreSQL
# refuses U+0000), replaced rather than refused, as a name is only a label.
_NAME_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Methods zipfile reads: stored, deflated, bzip2, LZMA (APPNOTE 4.4.5). Others, such as
# 99 (WinZip AES), are refused before a read is tried.
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def safe_document_name(name: str | None, index: int) -> str:
    """A document's base name, fit to store and to put in the output zip.

    Directories are dropped whether written with ``/`` or ``\\``, so ``../x.pdf`` or
    ``C:\\x.pdf`` cannot climb out of a directory the output is unpacked into; a name
    that is nothing but dots or empty becomes ``document-<index>.pdf``.
    """
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = _NAME_REFUSED.sub("_", base).strip()[:200]
    if not base.strip("."):
        return f"document-{index}.pdf"
    return base


def documents_from_zip(data: bytes, *, max_documents: int = MAX_DOCUMENTS,
                       max_bytes: int) -> list[tuple[str, bytes]]:
    """The files of a zip archive, in archive order (directories and macOS litter skipped).

    Sizes are checked from the directory and again while reading, so a zip bomb is
    refused before it is inflated. A damaged entry (bad CRC, corrupt compressed data),
    an encrypted one or one compressed by a method we cannot read refuses the archive.
    Names are reduced to safe base names (:func:`safe_document_name`).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise StampOptionsError("the upload is not a zip archive",
                                hint="send PDFs as multipart files or one zip") from None
    entries = [info for info in archive.infolist()
               if not info.is_dir() and not info.filename.startswith("__MACOSX/")]
    if not entries:
        raise StampOptionsError("the zip archive holds no files")
    if len(entries) > max_documents:
        raise StampOptionsError(f"at most {max_documents} documents per job")
    if sum(info.file_size for info in entries) > max_bytes:
        raise StampOptionsError(f"the archive inflates to more than {max_bytes} bytes")
    documents = []
    for index, info in enumerate(entries, start=1):
        name = safe_document_name(info.filename, index)
        if info.flag_bits & 0x1:  # APPNOTE 4.4.4 bit 0: encrypted
            raise StampOptionsError(f"{name}: the zip entry is encrypted",
                                    hint="send the PDFs in a zip without a password")
        if info.compress_type not in _ZIP_METHODS:
            raise StampOptionsError(f"{name}: the zip entry uses compression method "
                                    f"{info.compress_type}, which is not supported",
                                    hint="zip the PDFs with deflate (the usual method)")
        try:
            with archive.open(info) as member:
                content = member.read(max_bytes + 1)
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                ValueError, NotImplementedError, RuntimeError) as exc:
            # BadZipFile: a bad CRC-32 or header; zlib/lzma/OSError (bzip2): corrupt data.
            raise StampOptionsError(f"{name}: the zip entry is damaged ({exc.__class__.__name__})",
                                    hint="zip the PDFs again") from None
        if len(content) > max_bytes:
            raise StampOptionsError(f"{name} inflates to more than {max_bytes} bytes")
        documents.append((name, content))
    return documents


# ---------------------------------------------------------------------------- jobs


def _options_record(options: StampOptions) -> dict[str, Any]:
    return {
        "level": SignatureLevel(options.level).value,
        "certify": options.certify,
        "placement": options.placement.describe(),
        "reserve": [asdict(field) for field in options.reserve],
        "reason": options.reason,
        "location": options.location,
    }


class StampJobService:
    """Batch jobs within the caller's unit of work."""

    def __init__(self, session: Session, *, stamping: StampService, jobs_dir: Path) -> None:
        self._session = session
        self._stamping = stamping
        self.jobs_dir = jobs_dir

    def create(self, request: StampRequest, count: int, *, client_id: str | None, at: datetime
               ) -> StampJob:
        """A queued job for ``count`` documents; the caller must be allowed the seal now."""
        check_use_cause(request.case_number, request.purpose)
        if not 1 <= count <= MAX_DOCUMENTS:
            raise StampOptionsError(f"a job holds 1 to {MAX_DOCUMENTS} documents")
        self._stamping.seals.require_usable(request.seal_id, client_id=client_id, at=at)
        options = _options_record(request.options)
        options.update(case_number=request.case_number.strip(),
                       purpose=request.purpose.strip())
        job = StampJob(id=uuid.uuid4().hex, seal_id=request.seal_id, client_id=client_id,
                       status=StampJobStatus.QUEUED, total=count, succeeded=0, failed=0,
                       options=options, results=[], created_at=at)
        self._session.add(job)
        self._session.flush()
        return job

    def get(self, job_id: str, *, client_id: str | None) -> StampJob:
        """A job, if ``client_id`` created it (None: any job, for operators)."""
        job = self._session.get(StampJob, job_id)
        if job is None or (client_id is not None and job.client_id != client_id):
            raise StampJobNotFoundError(f"no stamp job {job_id!r}")
        return job

    def output_path(self, job: StampJob) -> Path:
        """Where the job's zip of sealed PDFs lives (once it is done)."""
        if job.status is not StampJobStatus.DONE or not job.output_path:
            raise StampJobNotFoundError(
                f"stamp job {job.id} has no output yet ({job.status.value})",
                hint="poll the job until its status is done")
        return Path(job.output_path)

    def start(self, job_id: str, *, at: datetime
              ) -> tuple[StampJob, SealMaterial, RevocationMaterial | None]:
        """Mark a job running; check the seal again; gather what the workers need."""
        job = self.get(job_id, client_id=None)
        seal = self._stamping.seals.require_usable(job.seal_id, client_id=job.client_id, at=at)
        material = self._stamping.material(seal)
        level = SignatureLevel(job.options["level"])
        revocation = self._stamping.revocation(material, level, at=at)
        job.status = StampJobStatus.RUNNING
        self._session.flush()
        return job, material, revocation

    def record(self, job_id: str, outcomes: Sequence[TaskOutcome], *, actor: str,
               at: datetime) -> list[dict[str, Any]]:
        """Record the seal uses of finished documents and update the job's counts."""
        job = self.get(job_id, client_id=None)
        rows = []
        entries = []
        for outcome in outcomes:
            row: dict[str, Any] = {"index": outcome.index, "name": outcome.name}
            if outcome.result is None:
                job.failed += 1
                row.update(ok=False, error={"code": outcome.error_code,
                                            "message": outcome.error_message,
                                            "hint": outcome.error_hint})
            else:
                job.succeeded += 1
                entries.append(UseEntry(
                    seal_id=job.seal_id, client_id=job.client_id, actor=actor, at=at,
                    case_number=job.options["case_number"], purpose=job.options["purpose"],
                    document_name=outcome.name[:255], input_sha256=outcome.input_sha256,
                    output_sha256=_sha256(outcome.result.pdf),
                    field_name=outcome.result.field_name, level=outcome.result.level,
                    placement=placement_record(outcome.result), job_id=job.id,
                ))
                row.update(ok=True, field=outcome.result.field_name)
            rows.append(row)
        uses = iter(self._stamping.uses.record_many(entries))
        for row in rows:
            if row["ok"]:
                use = next(uses)
                row.update(use_id=use.id, input_sha256=use.input_sha256,
                           output_sha256=use.output_sha256)
        job.results = sorted([*job.results, *rows], key=lambda item: item["index"])
        self._session.flush()
        return rows

    def finish(self, job_id: str, *, output: Path | None, error: SigningError | None,
               at: datetime) -> StampJob:
        """Close a job: done with its zip, or failed as a whole."""
        job = self.get(job_id, client_id=None)
        job.finished_at = at
        if error is not None:
            job.status = StampJobStatus.FAILED
            job.results = [*job.results, {"index": -1, "name": "", "ok": False, "error": {
                "code": error.code, "message": error.message, "hint": error.hint}}]
        else:
            job.status = StampJobStatus.DONE
            job.output_path = str(output) if output else None
        self._session.flush()
        return job


Progress = Callable[[int, int, int], None]


def run_stamp_job(
    job_id: str,
    documents: Sequence[tuple[str, bytes]],
    options: StampOptions,
    *,
    pool: StampPool,
    jobs: Callable[[], AbstractContextManager[StampJobService]],
    actor: str,
    clock: Callable[[], datetime],
    progress: Progress | None = None,
    flush_every: float = 0.5,
) -> StampJob:
    """Stamp every document of a job in the pool; record uses; write the zip.

    ``jobs`` opens a unit of work (committing on exit) and gives its job service; the run
    uses several short ones so that progress is visible while it runs.
    """
    try:
        with jobs() as service:
            _job, material, revocation = service.start(job_id, at=clock())
            jobs_dir = service.jobs_dir
    except SigningError as exc:
        with jobs() as service:
            return service.finish(job_id, output=None, error=exc, at=clock())
    jobs_dir.mkdir(parents=True, exist_ok=True)
    output = jobs_dir / f"{job_id}.zip"
    try:
        _stamp_all(job_id, documents, options, material, revocation, pool=pool, jobs=jobs,
                   actor=actor, clock=clock, progress=progress, flush_every=flush_every,
                   output=output)
    except Exception as exc:  # a broken pool or database: the job fails, visibly
        log.exception("stamp job %s stopped", job_id)
        output.unlink(missing_ok=True)
        with jobs() as service:
            return service.finish(job_id, output=None, at=clock(), error=SigningError(
                f"the batch stopped after an internal error ({type(exc).__name__}); "
                "documents recorded before it are listed", hint="submit the rest again"))
    with jobs() as service:
        return service.finish(job_id, output=output, error=None, at=clock())


def _stamp_all(job_id: str, documents: Sequence[tuple[str, bytes]], options: StampOptions,
               material: SealMaterial, revocation: RevocationMaterial | None, *,
               pool: StampPool, jobs: Callable[[], AbstractContextManager[StampJobService]],
               actor: str, clock: Callable[[], datetime], progress: Progress | None,
               flush_every: float, output: Path) -> None:
    futures = []
    for index, (name, pdf) in enumerate(documents):
        futures.append(pool.submit(StampTask(index, name, pdf, material, options, revocation)))
    done = succeeded = 0
    pending: list[TaskOutcome] = []
    last_flush = time.monotonic()
    used_names: set[str] = set()
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_STORED) as archive:
        for outcome in _completed(futures):
            done += 1
            if outcome.result is not None:
                succeeded += 1
                archive.writestr(_unique(outcome.name, used_names), outcome.result.pdf)
            pending.append(outcome)
            if time.monotonic() - last_flush >= flush_every or done == len(futures):
                with jobs() as service:
                    service.record(job_id, pending, actor=actor, at=clock())
                pending = []
                last_flush = time.monotonic()
            if progress is not None:
                progress(done, succeeded, len(futures))


def _completed(futures: list[Future[TaskOutcome]]) -> Iterator[TaskOutcome]:
    for future in as_completed(futures):
        yield future.result()


def _unique(name: str, used: set[str]) -> str:
    base = Path(name).name or "document.pdf"
    candidate, number = base, 2
    while candidate in used:
        stem, dot, suffix = base.rpartition(".")
        candidate = f"{stem}-{number}.{suffix}" if dot else f"{base}-{number}"
        number += 1
    used.add(candidate)
    return candidate
