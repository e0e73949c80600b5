"""Administration decided on the current state: clients and keys, also under races.

The last active administrator cannot be disabled, also when two administrators disable
each other at once from two processes; disabling what is disabled already changes and
records nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.errors import ClientStateError
from zhengyin.core.models import ApiClient, AuditEntry, ClientRole, ClientStatus
from zhengyin.keys import KeyAlgorithm

from ..racing import racing, recorded, service_call
from ..support import bearer


def _add_admin(runtime: Runtime, name: str) -> str:
    with runtime.unit_of_work() as services:
        return services.clients.add(name=name, role=ClientRole.ADMIN, org_credit_code=None,
                                    at=utcnow(), actor="test").client.id


def _active_admins(runtime: Runtime) -> list[str]:
    with runtime.unit_of_work(readonly=True) as services:
        return list(services.session.scalars(
            select(ApiClient.id).where(ApiClient.role == ClientRole.ADMIN)
            .where(ApiClient.status == ClientStatus.ACTIVE)))


def test_the_last_active_administrator_cannot_be_disabled(
        http: Any, runtime: Runtime, credentials: dict[ClientRole, str]) -> None:
    admin = bearer(credentials[ClientRole.ADMIN])
    only = credentials[ClientRole.ADMIN].split(".")[1]
    refused = http.post(f"/admin/clients/{only}/disable", headers=admin)
    assert (refused.status_code, refused.json()["code"]) == (409, "clients.illegal_transition")
    assert _active_admins(runtime) == [only]

    second = _add_admin(runtime, "second-admin")
    assert http.post(f"/admin/clients/{only}/disable", headers=admin).status_code == 200
    with runtime.unit_of_work() as services, \
            pytest.raises(ClientStateError, match=r"^the last active administrator"):
        services.clients.disable(second, at=utcnow(), actor="test")
    assert _active_admins(runtime) == [second]


def test_disabling_a_disabled_client_records_it_once(
        http: Any, runtime: Runtime, credentials: dict[ClientRole, str]) -> None:
    admin = bearer(credentials[ClientRole.ADMIN])
    victim = credentials[ClientRole.VERIFIER].split(".")[1]
    for _ in range(2):
        response = http.post(f"/admin/clients/{victim}/disable", headers=admin)
        assert (response.status_code, response.json()["status"]) == (200, "disabled")
    assert recorded(runtime, "client.disabled", victim) == 1
    rotated = http.post(f"/admin/clients/{victim}/rotate", headers=admin)
    assert (rotated.status_code, rotated.json()["code"]) == (409, "clients.illegal_transition")


def test_disabling_a_disabled_key_records_it_once(
        http: Any, runtime: Runtime, credentials: dict[ClientRole, str]) -> None:
    admin = bearer(credentials[ClientRole.ADMIN])
    created = http.post("/admin/keys", json={"label": "spare", "algorithm": "ec-p256"},
                        headers=admin)
    assert created.status_code == 201, created.text
    handle = created.json()["handle"]
    for _ in range(2):
        response = http.post(f"/admin/keys/{handle}/disable", headers=admin)
        assert (response.status_code, response.json()["disabled"]) == (200, True)
    assert recorded(runtime, "key.disabled", handle) == 1


@pytest.mark.slow
def test_two_administrators_disabling_each_other_at_once_leave_one(runtime: Runtime) -> None:
    survivor = _add_admin(runtime, "admin-0")
    rounds = 4
    with racing(runtime.settings, 2) as race:
        for number in range(1, rounds + 1):
            newcomer = _add_admin(runtime, f"admin-{number}")
            outcomes = race.run(service_call, [("clients", "disable", survivor),
                                               ("clients", "disable", newcomer)])
            assert sorted(outcomes) == ["clients.illegal_transition", "ok"]
            [survivor] = _active_admins(runtime)
    with runtime.unit_of_work(readonly=True) as services:
        disabled = services.session.scalar(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.action == "client.disabled"))
    assert disabled == rounds


@pytest.mark.slow
def test_concurrent_disables_of_one_key_record_it_once(runtime: Runtime) -> None:
    handles = []
    with runtime.unit_of_work() as services:
        for number in range(3):
            info = services.keys.generate(KeyAlgorithm.EC_P256, f"race-{number}", at=utcnow(),
                                          actor="test")
            handles.append(info.handle)
    with racing(runtime.settings, 4) as race:
        outcomes = [race.run(service_call, [("keys", "disable", handle)] * 4)
                    for handle in handles]
    assert outcomes == [["ok"] * 4] * len(handles)
    assert [recorded(runtime, "key.disabled", str(handle)) for handle in handles] == [1, 1, 1]
    assert all(runtime.keystore.info(handle).disabled for handle in handles)
