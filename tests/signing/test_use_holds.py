"""A seal's use and a change of its state never overlap (trust.locks.hold_rows).

A stamp or an issuance holds its seal from the moment it records the use until it commits;
a suspension waits for it and takes effect after it, so a document the service released
never verifies as "sealed while suspended". A use that comes after a suspension sees it
and releases nothing.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime

from zhengyin.core.clock import utcnow
from zhengyin.signing.batch import TaskOutcome
from zhengyin.signing.errors import SealUnusableError
from zhengyin.signing.models import SealStatus
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampRequest
from zhengyin.signing.uselog import SealUseFilter
from zhengyin.trust.validation import Indication

from .documents import approval_pdf
from .fixtures import StampingEnv
from .test_stamping import ANCHORED

REQUEST = {"case_number": "审批〔2025〕12号", "purpose": "准予行政许可"}


def _suspend_in_background(env: StampingEnv, seal_id: str, at: datetime
                           ) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def suspend() -> None:
        try:
            with env.runtime.unit_of_work() as services:
                services.seals.suspend(seal_id, reason="核查", at=at, actor="test")
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    thread = threading.Thread(target=suspend)
    thread.start()
    return thread, errors


def test_a_suspension_that_waited_for_a_stamp_takes_effect_after_it(
        stamping: StampingEnv) -> None:
    seal = stamping.new_seal()
    asked_at = utcnow()  # the suspension was asked for before the stamp's time-stamp
    time.sleep(1.2)
    with stamping.runtime.unit_of_work() as services:
        stamped = services.stamping.stamp(StampRequest(seal.id, StampOptions(ANCHORED),
                                                       **REQUEST),
                                          approval_pdf(), client_id=None, actor="test",
                                          at=utcnow())
        thread, errors = _suspend_in_background(stamping, seal.id, asked_at)
        time.sleep(0.5)
        assert thread.is_alive()  # it waits for the stamp in flight
    thread.join(timeout=60)
    assert not errors and not thread.is_alive()

    with stamping.runtime.unit_of_work(readonly=True) as services:
        suspended = services.seals.get(seal.id)
        assert suspended.status is SealStatus.SUSPENDED
        assert suspended.status_changed_at is not None
        assert suspended.status_changed_at > asked_at
        report = services.verifier.verify_pdf(stamped.result.pdf, at=utcnow())
    assert report.verdict.indication is Indication.TOTAL_PASSED, report.verdict


def test_a_job_whose_seal_was_suspended_mid_run_records_and_releases_nothing(
        stamping: StampingEnv) -> None:
    seal = stamping.new_seal()
    options = StampOptions(ANCHORED)
    with stamping.runtime.unit_of_work() as services:
        job = services.stamp_jobs.create(StampRequest(seal.id, options, **REQUEST), 1,
                                         client_id=None, at=utcnow())
    with stamping.runtime.unit_of_work() as services:
        started = services.stamp_jobs.start(job.id, runner="test", at=utcnow())
    assert started is not None
    pdf = approval_pdf()
    signed = stamping.runtime.stampers.get(started.material).stamp(
        pdf, options, timestamper=stamping.runtime.pdf_timestamper(),
        validation_context=None, max_bytes=10_000_000)
    # Suspended after the job checked the seal and signed, before the use is recorded.
    with stamping.runtime.unit_of_work() as services:
        services.seals.suspend(seal.id, reason="核查", at=utcnow(), actor="test")

    outcome = TaskOutcome(index=0, name="a.pdf", result=signed,
                          input_sha256=hashlib.sha256(pdf).hexdigest())
    with stamping.runtime.unit_of_work() as services:
        rows = services.stamp_jobs.record(job.id, [outcome], runner="test", actor="test",
                                          at=utcnow())
    assert [row["ok"] for row in rows] == [False]
    assert rows[0]["error"]["code"] == SealUnusableError.code
    with stamping.runtime.unit_of_work(readonly=True) as services:
        assert services.seal_uses.page(SealUseFilter(seal_id=seal.id)) == []
