"""A holder's consent withdrawn, or an agent grant ended, from several processes at once
is withdrawn or ended once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.registry.catalogue import example_service_items
from zhengyin.registry.holders import HolderKind, normalise_holder

from ..racing import racing, recorded, service_call

pytestmark = pytest.mark.slow

COMPANY = "91110000600037341L"
STAFF = "11010519491231002X"


def test_concurrent_withdrawals_of_a_consent_record_one(registry: Runtime) -> None:
    holder = normalise_holder(HolderKind.CREDIT_CODE, COMPANY)
    with registry.unit_of_work() as services:
        items = [services.service_items.define(item, at=utcnow(), actor="test").code
                 for item in example_service_items()]
        consents = [services.consents.grant(holder, item_code=items[0], client_id=None,
                                            case_number=None, expires_at=None, at=utcnow(),
                                            actor="test").id for _ in range(3)]
    with racing(registry.settings, 4) as race:
        outcomes = [race.run(service_call, [("consents", "withdraw", consent, COMPANY)] * 4)
                    for consent in consents]
    assert outcomes == [["ok"] * 4] * len(consents)
    assert [recorded(registry, "consent.withdrawn", consent) for consent in consents] == \
        [1, 1, 1]


def test_concurrent_ends_of_an_agent_grant_record_one(registry: Runtime) -> None:
    principal = normalise_holder(HolderKind.CREDIT_CODE, COMPANY)
    with registry.unit_of_work() as services:
        grants = [services.consents.grant_agent(principal, agent_code=STAFF,
                                                expires_at=utcnow() + timedelta(days=30),
                                                at=utcnow(), actor="test").id
                  for _ in range(3)]
    with racing(registry.settings, 4) as race:
        outcomes = [race.run(service_call, [("consents", "revoke_agent", grant, COMPANY)] * 4)
                    for grant in grants]
    assert outcomes == [["ok"] * 4] * len(grants)
    assert [recorded(registry, "agent.revoked", grant) for grant in grants] == [1, 1, 1]
