"""Service identities made on first use: several processes meeting it at once agree."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from api.runtime import Runtime
from trust.models import ServiceIdentity


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
                serials.append(current.registry_signer(services).serial)
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
    with runtime.unit_of_work(readonly=True) as services:
        count = services.session.scalar(select(func.count()).select_from(ServiceIdentity)
                                        .where(ServiceIdentity.purpose == "registry"))
    assert count == 1
