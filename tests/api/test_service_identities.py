"""Service identities made on first use: several processes meeting it at once agree."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from zhengyin.api.runtime import Runtime
from zhengyin.registry.checks import Caller, CheckRequest
from zhengyin.registry.errors import ConsentError
from zhengyin.trust.models import ServiceIdentity


def _registry_identities(runtime: Runtime) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(
            select(func.count()).select_from(ServiceIdentity)
            .where(ServiceIdentity.purpose == "registry")) or 0)


def test_workers_creating_the_registry_identity_at_once_share_one(
        runtime: Runtime) -> None:
    # Two runtimes over one database stand for two worker processes, each meeting the
    # missing identity on its first check.
    other = Runtime(runtime.settings)
    start = threading.Barrier(2)
    serials: list[str] = []
    failures: list[BaseException] = []

    def first_use(current: Runtime) -> None:
        start.wait()
        try:
            with current.unit_of_work() as services:
                serials.append(services.registry_signer().serial)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=first_use, args=(current,))
               for current in (runtime, other)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other.close()

    assert failures == []
    assert len(serials) == 2 and serials[0] == serials[1]
    assert _registry_identities(runtime) == 1


def test_a_processs_first_check_makes_the_registry_identity_in_a_unit_of_its_own(
        runtime: Runtime) -> None:
    # A check under a consent may write one statement only (no ORM writes), so the
    # identity its receipt needs is made before the check's unit of work opens.
    fresh = Runtime(runtime.settings)
    request = CheckRequest(holder_kind="credit-code", holder_code="91110000600037341L",
                           item_code="NO-SUCH-ITEM", case_number="C-1", purpose="test",
                           consent_id="no-such-consent")
    try:
        with pytest.raises(ConsentError):  # the refusal, not a write refused in the unit
            fresh.checks.check_and_commit(request, Caller("c1", "intake", "client:c1"))
    finally:
        fresh.close()
    assert _registry_identities(runtime) == 1


def test_a_read_only_first_use_of_the_registry_signer_makes_the_identity_elsewhere(
        runtime: Runtime) -> None:
    # Verifying a display QR code reads in a read-only unit; on a fresh installation it is
    # what first needs the registry's certificates.
    fresh = Runtime(runtime.settings)
    try:
        with fresh.unit_of_work(readonly=True) as services:
            serial = services.registry_signer().serial
    finally:
        fresh.close()
    assert _registry_identities(runtime) == 1
    with runtime.unit_of_work() as services:
        assert services.registry_signer().serial == serial
