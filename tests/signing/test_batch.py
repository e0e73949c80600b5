"""Batch stamping in the warm worker pool: counts, a zip, uses, one bad file isolated."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from zhengyin.core.clock import utcnow
from zhengyin.signing.batch import StampPool, documents_from_zip
from zhengyin.signing.errors import StampOptionsError
from zhengyin.signing.jobs import StampJobService, run_stamp_job
from zhengyin.signing.models import Seal, SignatureLevel, StampJob, StampJobStatus
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampRequest
from zhengyin.signing.uselog import SealUseFilter

from .checks import assert_pyhanko_passes, pdfsig_check
from .documents import approval_pdf, encrypted_pdf, not_a_pdf
from .fixtures import StampingEnv
from .test_stamping import ANCHORED


def _jobs(env: StampingEnv):  # type: ignore[no-untyped-def]
    @contextmanager
    def open_jobs() -> Iterator[StampJobService]:
        with env.runtime.unit_of_work() as services:
            yield services.stamp_jobs
    return open_jobs


def test_a_batch_stamps_good_files_and_reports_bad_ones(stamping: StampingEnv,
                                                        approval_seal: Seal) -> None:
    documents = [(f"approval-{n}.pdf", approval_pdf(2 + n % 2)) for n in range(6)]
    documents.insert(2, ("scan.png", not_a_pdf()))
    documents.insert(5, ("locked.pdf", encrypted_pdf()))
    options = StampOptions(ANCHORED, level=SignatureLevel.B_T)
    request = StampRequest(approval_seal.id, options, "批量〔2025〕1号", "批量审批")
    with stamping.runtime.unit_of_work() as services:
        job = services.stamp_jobs.create(request, len(documents), client_id=None, at=utcnow())
        job_id = job.id
    seen: list[tuple[int, int, int]] = []

    finished = run_stamp_job(job_id, documents, options, pool=stamping.runtime.stamp_pool(),
                             jobs=_jobs(stamping), actor="test", clock=utcnow,
                             progress=lambda done, ok, total: seen.append((done, ok, total)))

    assert finished.status is StampJobStatus.DONE
    assert (finished.total, finished.succeeded, finished.failed) == (8, 6, 2)
    assert seen[-1] == (8, 6, 8)
    failures = {row["name"]: row["error"]["code"] for row in finished.results if not row["ok"]}
    assert failures == {"scan.png": "pdf.not_pdf", "locked.pdf": "pdf.encrypted"}
    assert finished.output_path is not None
    with zipfile.ZipFile(finished.output_path) as archive:
        names = archive.namelist()
        assert sorted(names) == sorted(name for name, _ in documents if name.endswith("f")
                                       and name != "locked.pdf")
        sample = archive.read(names[0])
    assert_pyhanko_passes(sample, stamping.root_der)
    pdfsig_check(sample, stamping.nss, stamping.tmp)
    with stamping.runtime.unit_of_work(readonly=True) as services:
        uses = services.seal_uses.page(SealUseFilter(seal_id=approval_seal.id,
                                                     case_number="批量〔2025〕1号"))
    assert len(uses) == 6
    assert {use.job_id for use in uses} == {job_id}


def test_a_job_for_a_suspended_seal_is_refused(stamping: StampingEnv) -> None:
    from zhengyin.signing.errors import SealUnusableError

    seal = stamping.new_seal()
    with stamping.runtime.unit_of_work() as services:
        services.seals.suspend(seal.id, reason="test", at=utcnow(), actor="test")
    with stamping.runtime.unit_of_work() as services, pytest.raises(SealUnusableError):
        services.stamp_jobs.create(StampRequest(seal.id, StampOptions(ANCHORED), "案", "用途"),
                                   1, client_id=None, at=utcnow())


def test_a_zip_upload_is_unpacked_in_order() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("b.pdf", b"%PDF-b")
        archive.writestr("dir/", b"")
        archive.writestr("a.pdf", b"%PDF-a")
    assert documents_from_zip(buffer.getvalue(), max_bytes=1000) == [
        ("b.pdf", b"%PDF-b"), ("a.pdf", b"%PDF-a")]
    with pytest.raises(StampOptionsError):
        documents_from_zip(b"not a zip", max_bytes=1000)
    with pytest.raises(StampOptionsError):
        documents_from_zip(buffer.getvalue(), max_bytes=5)


# ----------------------------------------------------------------------------- leases


def _queued(env: StampingEnv, seal: Seal, count: int = 1) -> str:
    request = StampRequest(seal.id, StampOptions(ANCHORED), "租约〔2025〕1号", "批量审批")
    with env.runtime.unit_of_work() as services:
        return services.stamp_jobs.create(request, count, client_id=None, at=utcnow()).id


def _job(env: StampingEnv, job_id: str) -> StampJob:
    with env.runtime.unit_of_work(readonly=True) as services:
        job = services.stamp_jobs.get(job_id, client_id=None)
        services.session.expunge(job)
    return job


def _recover(env: StampingEnv, *, after: float) -> list[str]:
    with env.runtime.unit_of_work() as services:
        ended = services.stamp_jobs.recover(at=utcnow() + timedelta(seconds=after),
                                            lease_seconds=30)
        return [job.id for job in ended]


def test_a_job_whose_runner_stopped_ends_failed_listing_what_was_done(
        stamping: StampingEnv, approval_seal: Seal) -> None:
    job_id = _queued(stamping, approval_seal, count=3)
    with stamping.runtime.unit_of_work() as services:
        started = services.stamp_jobs.start(job_id, runner="dead-host:1:x", at=utcnow())
        assert started is not None
        jobs_dir = started.jobs_dir
    jobs_dir.mkdir(parents=True, exist_ok=True)
    started.part.write_bytes(b"PK\x03\x04 half a zip")

    assert _recover(stamping, after=1) == []  # the lease still runs
    assert job_id in _recover(stamping, after=31)

    job = _job(stamping, job_id)
    assert job.status is StampJobStatus.FAILED and job.finished_at is not None
    assert job.results[-1]["error"]["code"] == "stamp_job.interrupted"
    assert "0 of 3" in job.results[-1]["error"]["message"]
    assert not started.part.exists()
    assert _recover(stamping, after=31) == []  # ended once


def test_a_queued_job_that_never_started_ends_failed(stamping: StampingEnv,
                                                    approval_seal: Seal) -> None:
    job_id = _queued(stamping, approval_seal)

    assert job_id in _recover(stamping, after=31)
    assert _job(stamping, job_id).status is StampJobStatus.FAILED


def test_a_job_whose_zip_was_published_ends_done(stamping: StampingEnv,
                                                 approval_seal: Seal) -> None:
    job_id = _queued(stamping, approval_seal)
    with stamping.runtime.unit_of_work() as services:
        started = services.stamp_jobs.start(job_id, runner="dead-host:2:y", at=utcnow())
        assert started is not None
    started.jobs_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(started.output, "w") as archive:  # renamed, then the process died
        archive.writestr("a.pdf", b"%PDF-sealed")

    assert job_id in _recover(stamping, after=31)
    job = _job(stamping, job_id)
    assert job.status is StampJobStatus.DONE
    assert job.output_path == str(started.output)


def test_a_run_that_lost_its_lease_publishes_nothing(stamping: StampingEnv,
                                                     approval_seal: Seal) -> None:
    documents = [(f"d-{n}.pdf", approval_pdf(2)) for n in range(12)]
    options = StampOptions(ANCHORED)
    job_id = _queued(stamping, approval_seal, count=len(documents))
    pool = stamping.runtime.stamp_pool()

    def slow_pool() -> StampPool:
        # Another process decides the run is dead (as if its heartbeats had stalled)
        # while it waits for its pool.
        assert job_id in _recover(stamping, after=31)
        return pool

    finished = run_stamp_job(job_id, documents, options, pool=slow_pool, jobs=_jobs(stamping),
                             actor="test", clock=utcnow)

    assert finished.status is StampJobStatus.FAILED
    assert finished.results[-1]["error"]["code"] == "stamp_job.interrupted"
    jobs_dir = stamping.runtime.settings.data_dir / "jobs"
    assert not (jobs_dir / f"{job_id}.zip").exists()
    assert not (jobs_dir / f"{job_id}.zip.part").exists()
    with stamping.runtime.unit_of_work(readonly=True) as services:
        uses = services.seal_uses.page(SealUseFilter(seal_id=approval_seal.id), limit=1000)
    assert not [use for use in uses if use.job_id == job_id]  # its documents were dropped


def test_a_job_is_run_once(stamping: StampingEnv, approval_seal: Seal) -> None:
    job_id = _queued(stamping, approval_seal)
    with stamping.runtime.unit_of_work() as services:
        assert services.stamp_jobs.start(job_id, runner="a", at=utcnow()) is not None
    with stamping.runtime.unit_of_work() as services:
        assert services.stamp_jobs.start(job_id, runner="b", at=utcnow()) is None
        assert services.stamp_jobs.heartbeat(job_id, runner="b", at=utcnow()) is False
        assert services.stamp_jobs.heartbeat(job_id, runner="a", at=utcnow()) is True
