"""A holder's consent withdrawn from several processes at once is withdrawn once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.runtime import Runtime
from registry.catalogue import example_service_items
from registry.holders import HolderKind, normalise_holder
from trust.db import utcnow
from trust.models import AuditEntry

from ..racing import consent_withdraw, racing

pytestmark = pytest.mark.slow

COMPANY = "91110000600037341L"


def test_concurrent_withdrawals_of_a_consent_record_one(registry: Runtime) -> None:
    holder = normalise_holder(HolderKind.CREDIT_CODE, COMPANY)
    with registry.unit_of_work() as services:
        items = [services.service_items.define(item, at=utcnow(), actor="test").code
                 for item in example_service_items()]
        consents = [services.consents.grant(holder, item_code=items[0], client_id=None,
                                            case_number=None, expires_at=None, at=utcnow(),
                                            actor="test").id for _ in range(3)]
    with racing(registry.settings, 4) as race:
        outcomes = [race.run(consent_withdraw, [(consent, COMPANY)] * 4)
                    for consent in consents]
    registry.audit_sequencer.drain()
    with registry.unit_of_work(readonly=True) as services:
        recorded = [services.session.scalar(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.action == "consent.withdrawn")
            .where(AuditEntry.object_id == consent)) for consent in consents]
    assert outcomes == [["ok"] * 4] * len(consents)
    assert recorded == [1] * len(consents)
