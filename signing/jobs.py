"""Batch stamp jobs: the job row, its run over the worker pool, and its end when its
process dies.

What a run guarantees (issue 14: a job killed mid-run left 57 sealed PDFs in a
half-written zip with one use recorded, and stayed "running" for ever):

1. **Recorded before written.** The sealed documents the workers return are held in
   memory until their seal uses (and the job's counts) are committed; only then are they
   written to the output. A sealed document never exists outside the signing processes
   without its use record, so after any crash sealed outputs ≤ recorded uses.
2. **Published by rename.** The zip is written to ``<job>.zip.part``, flushed to disk and
   renamed to ``<job>.zip``; only then is the job marked done. No reader ever finds a
   half-written zip where a finished one is expected.
3. **A lease.** The run claims the job (queued → running, with a runner id) and renews a
   heartbeat every quarter of ``ZHENGYIN_STAMP_JOB_LEASE_SECONDS``. A queued or running job
   whose heartbeat is older than the lease belongs to a process that died;
   :meth:`StampJobService.recover` (run by every server periodically and by ``zhengyin
   stamp batch`` at start) ends it: done if its zip was published (every use was recorded
   before the rename), else failed, its results listing each document that was sealed
   and recorded (use id, hashes). A run that finds its lease taken stops without
   publishing.

Why a dead job ends instead of resuming: its documents lived only in the memory of the
process that received them (uploads are not kept: they carry personal data, as for
verification), so nothing is left to resume from; the failed job says exactly which
documents were sealed, and the client submits the others again. A resumed job would also
seal later documents at a later time under a check of the seal made earlier.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, as_completed
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from .batch import MAX_DOCUMENTS, StampPool, StampTask, TaskOutcome
from .errors import SigningError, StampJobNotFoundError, StampOptionsError
from .models import SignatureLevel, StampJob, StampJobStatus
from .revocation import RevocationMaterial
from .stamper import SealMaterial, StampOptions
from .stamping import StampRequest, StampService, check_use_cause, placement_record
from .uselog import UseEntry

__all__ = ["JobSweeper", "StampJobService", "new_runner_id", "run_stamp_job"]

log = logging.getLogger("zhengyin.stamping")
_UNFINISHED = (StampJobStatus.QUEUED, StampJobStatus.RUNNING)


def new_runner_id() -> str:
    """Who runs a job: host, process and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _options_record(options: StampOptions) -> dict[str, Any]:
    return {
        "level": SignatureLevel(options.level).value,
        "certify": options.certify,
        "placement": options.placement.describe(),
        "reserve": [asdict(field) for field in options.reserve],
        "reason": options.reason,
        "location": options.location,
    }


def _error_row(code: str, message: str, hint: str | None) -> dict[str, Any]:
    return {"index": -1, "name": "", "ok": False,
            "error": {"code": code, "message": message, "hint": hint}}


@dataclass(frozen=True)
class StartedJob:
    """A job this runner claimed, and what the workers need for it."""

    job_id: str
    runner: str
    material: SealMaterial
    revocation: RevocationMaterial | None
    jobs_dir: Path

    @property
    def output(self) -> Path:
        """Where the finished zip is published."""
        return self.jobs_dir / f"{self.job_id}.zip"

    @property
    def part(self) -> Path:
        """Where the zip is written until it is complete."""
        return self.jobs_dir / f"{self.job_id}.zip.part"


class _LeaseLostError(Exception):
    """Another process ended this job (its heartbeat looked stale): stop, publish nothing."""


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
                       options=options, results=[], created_at=at, heartbeat_at=at)
        self._session.add(job)
        self._session.flush()
        return job

    def get(self, job_id: str, *, client_id: str | None, lock: bool = False) -> StampJob:
        """A job, if ``client_id`` created it (None: any job, for operators)."""
        query = select(StampJob).where(StampJob.id == job_id).execution_options(
            populate_existing=True)
        if lock:
            query = query.with_for_update()
        job = self._session.scalars(query).one_or_none()
        if job is None or (client_id is not None and job.client_id != client_id):
            raise StampJobNotFoundError(f"no stamp job {job_id!r}")
        return job

    def output_path(self, job: StampJob) -> Path:
        """Where the job's zip of sealed PDFs lives (once it is done)."""
        if job.status is not StampJobStatus.DONE or not job.output_path:
            raise StampJobNotFoundError(
                f"stamp job {job.id} has no output ({job.status.value})",
                hint="poll the job until its status is done; a failed job lists what was done")
        return Path(job.output_path)

    # ---------------------------------------------------------------- a run

    def start(self, job_id: str, *, runner: str, at: datetime) -> StartedJob | None:
        """Claim a queued job for ``runner``, check the seal again and gather what the
        workers need; None if the job is not queued (another runner has it) or the seal
        may no longer be used (the job then fails, saying why)."""
        claimed = self._session.execute(
            update(StampJob).where(StampJob.id == job_id)
            .where(StampJob.status == StampJobStatus.QUEUED)
            .values(status=StampJobStatus.RUNNING, runner=runner, heartbeat_at=at))
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        job = self.get(job_id, client_id=None)
        try:
            seal = self._stamping.seals.require_usable(job.seal_id, client_id=job.client_id,
                                                       at=at)
            material = self._stamping.material(seal)
            revocation = self._stamping.revocation(
                material, SignatureLevel(job.options["level"]), at=at)
        except SigningError as exc:
            self._end(job, StampJobStatus.FAILED, at=at,
                      row=_error_row(exc.code, exc.message, exc.hint))
            return None
        return StartedJob(job_id, runner, material, revocation, self.jobs_dir)

    def heartbeat(self, job_id: str, *, runner: str, at: datetime) -> bool:
        """Renew ``runner``'s lease; False if the job is no longer its to run."""
        renewed = self._session.execute(
            update(StampJob).where(StampJob.id == job_id).where(StampJob.runner == runner)
            .where(StampJob.status == StampJobStatus.RUNNING).values(heartbeat_at=at))
        return getattr(renewed, "rowcount", 0) == 1

    def record(self, job_id: str, outcomes: Sequence[TaskOutcome], *, runner: str,
               actor: str, at: datetime) -> list[dict[str, Any]]:
        """Record the seal uses of finished documents and update the job's counts.

        Raises :class:`_LeaseLostError` (recording nothing) if the job is no longer
        ``runner``'s: its documents are then dropped, never written anywhere.
        """
        job = self.get(job_id, client_id=None, lock=True)
        if job.status is not StampJobStatus.RUNNING or job.runner != runner:
            raise _LeaseLostError(job_id)
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
        job.heartbeat_at = at
        self._session.flush()
        return rows

    def finish(self, job_id: str, *, runner: str, output: Path | None,
               error: SigningError | None, at: datetime) -> StampJob:
        """Close ``runner``'s job: done with its published zip, or failed as a whole.
        A job no longer this runner's is returned as it is."""
        job = self.get(job_id, client_id=None, lock=True)
        if job.status is not StampJobStatus.RUNNING or job.runner != runner:
            return job
        if error is not None:
            self._end(job, StampJobStatus.FAILED, at=at,
                      row=_error_row(error.code, error.message, error.hint))
        else:
            self._end(job, StampJobStatus.DONE, at=at, output=output)
        return job

    def _end(self, job: StampJob, status: StampJobStatus, *, at: datetime,
             row: dict[str, Any] | None = None, output: Path | None = None) -> None:
        job.status = status
        job.finished_at = at
        job.output_path = str(output) if output is not None else None
        if row is not None:
            job.results = [*job.results, row]
        self._session.flush()

    # ---------------------------------------------------------------- recovery

    def recover(self, *, at: datetime, lease_seconds: float) -> list[StampJob]:
        """End every queued or running job whose runner has not renewed its lease.

        Done when its zip was published (the rename comes after every use was recorded),
        else failed with the documents that were done listed; a leftover ``.part`` file is
        removed. Safe to run from several processes at once (the rows are locked).
        """
        cutoff = at - timedelta(seconds=lease_seconds)
        stale = self._session.scalars(
            select(StampJob).where(StampJob.status.in_(_UNFINISHED))
            .where(or_(StampJob.heartbeat_at.is_(None), StampJob.heartbeat_at < cutoff))
            .order_by(StampJob.created_at).limit(100)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        ended = []
        for job in stale:
            output = self.jobs_dir / f"{job.id}.zip"
            if job.status is StampJobStatus.RUNNING and output.is_file():
                self._end(job, StampJobStatus.DONE, at=at, output=output)
            else:
                done = job.succeeded + job.failed
                self._end(job, StampJobStatus.FAILED, at=at, row=_error_row(
                    "stamp_job.interrupted",
                    f"the job stopped after {done} of {job.total} documents: the process "
                    f"running it ended (killed or restarted). The {job.succeeded} documents "
                    "listed as ok were sealed and their uses recorded, but no output was "
                    "kept", "submit the documents again"))
            (self.jobs_dir / f"{job.id}.zip.part").unlink(missing_ok=True)
            log.warning("stamp job %s had no live runner (%s); now %s", job.id, job.runner,
                        job.status.value)
            ended.append(job)
        return ended


# ------------------------------------------------------------------------------ running

Jobs = Callable[[], AbstractContextManager[StampJobService]]
Progress = Callable[[int, int, int], None]


class _Lease:
    """Renews a job's heartbeat from a thread until the run ends."""

    def __init__(self, jobs: Jobs, started: StartedJob, *, every: float,
                 clock: Callable[[], datetime]) -> None:
        self._jobs, self._started, self._every, self._clock = jobs, started, every, clock
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name="stamp-job-lease", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                with self._jobs() as service:
                    kept = service.heartbeat(self._started.job_id,
                                             runner=self._started.runner, at=self._clock())
            except Exception:
                log.exception("stamp job %s: heartbeat failed", self._started.job_id)
                continue
            if not kept:
                self.lost = True
                return


def run_stamp_job(
    job_id: str,
    documents: Sequence[tuple[str, bytes]],
    options: StampOptions,
    *,
    pool: StampPool | Callable[[], StampPool],
    jobs: Jobs,
    actor: str,
    clock: Callable[[], datetime],
    progress: Progress | None = None,
    flush_every: float = 0.5,
    lease_seconds: float = 30.0,
) -> StampJob:
    """Claim the job, stamp every document in the pool, record uses, publish the zip.

    ``jobs`` opens a unit of work (committing on exit) and gives its job service; the run
    uses several short ones so that progress is visible while it runs. ``pool`` may be a
    factory: the job is claimed (and its lease renewed) before a cold pool starts.
    """
    runner = new_runner_id()
    with jobs() as service:
        started = service.start(job_id, runner=runner, at=clock())
    if started is None:
        with jobs() as service:
            return service.get(job_id, client_id=None)
    error: SigningError | None = None
    with _Lease(jobs, started, every=lease_seconds / 4, clock=clock) as lease:
        try:
            workers = pool if isinstance(pool, StampPool) else pool()
            _stamp_all(started, documents, options, workers, jobs=jobs, lease=lease,
                       actor=actor, clock=clock, progress=progress, flush_every=flush_every)
            _publish(started.part, started.output)
        except _LeaseLostError:
            log.error("stamp job %s was ended by another process; its run stops", job_id)
            started.part.unlink(missing_ok=True)
        except Exception as exc:  # a broken pool or database: the job fails, visibly
            log.exception("stamp job %s stopped", job_id)
            started.part.unlink(missing_ok=True)
            error = SigningError(
                f"the batch stopped after an internal error ({type(exc).__name__}); "
                "documents recorded before it are listed", hint="submit the rest again")
    with jobs() as service:
        job = service.finish(job_id, runner=runner, at=clock(), error=error,
                             output=started.output if error is None else None)
    if job.status is not StampJobStatus.DONE or job.output_path is None:
        started.output.unlink(missing_ok=True)  # published too late: the job was ended
    return job


def _stamp_all(started: StartedJob, documents: Sequence[tuple[str, bytes]],
               options: StampOptions, pool: StampPool, *, jobs: Jobs, lease: _Lease,
               actor: str, clock: Callable[[], datetime], progress: Progress | None,
               flush_every: float) -> None:
    futures = [pool.submit(StampTask(index, name, pdf, started.material, options,
                                     started.revocation))
               for index, (name, pdf) in enumerate(documents)]
    done = succeeded = 0
    pending: list[TaskOutcome] = []
    last_flush = time.monotonic()
    used_names: set[str] = set()
    started.jobs_dir.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(started.part, "w", compression=zipfile.ZIP_STORED) as archive:
            for outcome in _completed(futures):
                done += 1
                succeeded += outcome.result is not None
                pending.append(outcome)
                if time.monotonic() - last_flush < flush_every and done < len(futures):
                    continue
                if lease.lost:
                    raise _LeaseLostError(started.job_id)
                # Step 1 of the module docstring: commit the uses, then write the files.
                with jobs() as service:
                    service.record(started.job_id, pending, runner=started.runner,
                                   actor=actor, at=clock())
                for item in pending:
                    if item.result is not None:
                        archive.writestr(_unique(item.name, used_names), item.result.pdf)
                pending = []
                last_flush = time.monotonic()
                if progress is not None:
                    progress(done, succeeded, len(futures))
    finally:
        for future in futures:
            future.cancel()


def _publish(part: Path, output: Path) -> None:
    """Make the written zip durable, then give it its final name in one step."""
    with part.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(part, output)
    directory = os.open(output.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


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


# ------------------------------------------------------------------------------ sweeping


class JobSweeper:
    """A daemon thread that ends jobs whose runner died, at start and then periodically."""

    def __init__(self, sweep: Callable[[], int], *, every: float) -> None:
        self._sweep = sweep
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sweeping (no-op when running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stamp-job-sweeper",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sweeping."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                self._sweep()
            except Exception:
                log.exception("stamp job sweep failed; retrying later")
            if self._stop.wait(self._every):
                return
