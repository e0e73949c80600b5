"""Agents (代办人): ``?for=PRINCIPAL`` on the holder API reads the principal's licences and
uses only under a valid, unexpired grant, every such access audited; grants are to another
person and bounded in time. Through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditEntry, ClientRole
from zhengyin.registry.holders import HolderKind
from zhengyin.registry.models import AgentGrant

from ..support import bearer
from .test_checks import COMPANY, STAFF, World, _business

OTHER_COMPANY = "11110000000021135M"
OTHER_PERSON = "440524188001010014"


@pytest.fixture
def world(http: Any, registry: Runtime, credentials: dict[ClientRole, str]) -> World:
    """The company, its staff member, the issuers and an intake client."""
    return World(http, registry, credentials)


def _expires(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _grant(world: World, agent: str = STAFF, days: float = 30) -> Any:
    return world.http.post("/holder/agents", json={"agent_code": agent,
                                                   "expires_at": _expires(days)},
                           headers=world.company)


def _staff(world: World) -> dict[str, str]:
    return bearer(world.token(STAFF))


_READS: dict[str, Callable[[str], str]] = {
    "licences": lambda identifier: "/holder/licences",
    "licence": lambda identifier: f"/holder/licences/{identifier}",
    "pdf": lambda identifier: f"/holder/licences/{identifier}/pdf",
    "uses": lambda identifier: "/holder/uses",
}


def test_an_agent_reads_its_principals_licences_pdf_and_uses_with_for(world: World) -> None:
    identifier = world.issue(world.market, _business())
    assert world.check(consent_id=world.consent()).status_code == 200
    assert _grant(world).status_code == 201
    staff = _staff(world)
    own = world.http.get("/holder/licences", headers=staff)
    assert own.status_code == 200 and own.json() == []  # without ?for: its own (none)
    listed = world.http.get("/holder/licences", params={"for": COMPANY}, headers=staff)
    assert [row["identifier"] for row in listed.json()] == [identifier]
    one = world.http.get(f"/holder/licences/{identifier}", params={"for": COMPANY},
                         headers=staff)
    assert one.status_code == 200 and one.json()["identifier"] == identifier
    pdf = world.http.get(f"/holder/licences/{identifier}/pdf", params={"for": COMPANY},
                         headers=staff)
    assert pdf.status_code == 200
    assert pdf.content == world.http.get(f"/holder/licences/{identifier}/pdf",
                                         headers=world.company).content
    uses = world.http.get("/holder/uses", params={"for": COMPANY}, headers=staff)
    assert [use["identifier"] for use in uses.json()] == [identifier]
    assert world.http.get("/holder/uses", headers=staff).json() == []


def _expire(world: World, grant_id: str) -> None:
    with world.runtime.unit_of_work() as services:
        services.session.execute(update(AgentGrant).where(AgentGrant.id == grant_id)
                                 .values(expires_at=utcnow() - timedelta(seconds=1)))


@pytest.mark.parametrize("grant", ["none", "revoked", "expired", "another-principal"])
def test_for_a_principal_without_a_valid_grant_is_403_on_every_holder_read(
    world: World, grant: str
) -> None:
    identifier = world.issue(world.market, _business())
    if grant in ("revoked", "expired"):
        grant_id = _grant(world).json()["id"]
        if grant == "revoked":
            revoked = world.http.post(f"/holder/agents/{grant_id}/revoke",
                                      headers=world.company)
            assert revoked.status_code == 204
        else:
            _expire(world, grant_id)
    elif grant == "another-principal":
        other = bearer(world.token(OTHER_COMPANY, HolderKind.CREDIT_CODE))
        assert world.http.post("/holder/agents", json={
            "agent_code": STAFF, "expires_at": _expires(30)}, headers=other).status_code == 201
    staff = _staff(world)
    for route, path in _READS.items():
        response = world.http.get(path(identifier), params={"for": COMPANY}, headers=staff)
        assert response.status_code == 403, (route, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "agent.not_authorised"
        assert "北京某某科技有限公司" not in response.text


def _agent_entries(world: World) -> list[AuditEntry]:
    with world.runtime.unit_of_work(readonly=True) as services:
        return list(services.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "agent.acted")
            .order_by(AuditEntry.seq)))


def test_every_agent_access_is_audited_and_a_holders_own_reads_are_not(world: World) -> None:
    identifier = world.issue(world.market, _business())
    grant_id = _grant(world).json()["id"]
    staff = _staff(world)
    for route in ("licences", "licence", "pdf", "uses"):
        response = world.http.get(_READS[route](identifier), params={"for": COMPANY},
                                  headers=staff)
        assert response.status_code == 200, response.text
    consent = world.http.post("/holder/consents", params={"for": COMPANY},
                              json={"item_code": "11110105-FOOD-0001"}, headers=staff)
    assert consent.status_code == 201
    listed = world.http.get("/holder/consents", params={"for": COMPANY}, headers=staff)
    assert [row["id"] for row in listed.json()] == [consent.json()["id"]]
    withdrawn = world.http.post(f"/holder/consents/{consent.json()['id']}/withdraw",
                                params={"for": COMPANY}, headers=staff)
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
    for route in ("licences", "uses"):
        world.http.get(_READS[route](identifier), headers=world.company)
    world.http.get("/holder/consents", headers=world.company)
    entries = _agent_entries(world)
    assert [entry.details["access"] for entry in entries] == [
        "licences.list", "licence.read", "licence.pdf", "uses.list", "consent.grant",
        "consents.list", "consent.withdraw"]
    for entry in entries:
        assert entry.object_id == grant_id
        assert entry.details["principal"] == COMPANY
        assert entry.actor.startswith("holder:") and STAFF not in entry.actor


def test_a_holder_cannot_make_itself_its_own_agent(world: World) -> None:
    person = bearer(world.token(STAFF))
    response = world.http.post("/holder/agents", json={"agent_code": STAFF,
                                                       "expires_at": _expires(30)},
                               headers=person)
    assert response.status_code == 422
    assert response.json()["code"] == "agent.invalid_grant"
    assert world.http.get("/holder/agents", headers=person).json() == []


@pytest.mark.parametrize(("expires_at", "status", "code"), [
    (lambda: _expires(364.9), 201, None),
    (lambda: _expires(365.1), 422, "agent.invalid_grant"),
    # Out of any moment's range: refused at the edge (api.schemas.inputs.Instant).
    (lambda: "9999-12-31T23:59:59-12:00", 422, "request.invalid"),
], ids=["within-365-days", "beyond-365-days", "year-9999-at-minus-12"])
def test_an_agent_grant_lasts_at_most_the_configured_days(world: World, expires_at: Any,
                                                          status: int, code: str | None
                                                          ) -> None:
    response = world.http.post("/holder/agents", json={"agent_code": OTHER_PERSON,
                                                       "expires_at": expires_at()},
                               headers=world.company)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["code"] == code
