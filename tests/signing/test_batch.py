"""Batch stamping in the warm worker pool: counts, a zip, uses, one bad file isolated."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from signing.batch import StampJobService, documents_from_zip, run_stamp_job
from signing.errors import StampOptionsError
from signing.models import Seal, SignatureLevel, StampJobStatus
from signing.stamper import StampOptions
from signing.stamping import StampRequest
from signing.uselog import SealUseFilter
from trust.db import utcnow

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
    from signing.errors import SealUnusableError

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
