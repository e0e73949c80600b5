"""A licence's life: every transition, every illegal one, history, status on a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import CHINA_TZ, utcnow
from zhengyin.core.models import AuditEntry
from zhengyin.registry.identifiers import LicenceIdentifier
from zhengyin.registry.lifecycle import TRANSITIONS
from zhengyin.registry.models import Licence, LicenceEvent, LicenceStatus, TransitionAction

from .conftest import food_request

REASON = {"reason": "现场检查发现问题", "legal_basis": "《食品安全法》第一百二十六条"}
REVOKE = {"kind": "revoked", "reason_code": "R-126", "reason": "严重违法",
          "legal_basis": "《食品安全法》第一百二十六条"}


@pytest.fixture
def licence(http: Any, registry: Runtime, market: dict[str, str]) -> str:
    """A valid food business licence; its identifier."""
    response = http.post("/licences", json=food_request(), headers=market)
    assert response.status_code == 201, response.text
    return str(response.json()["identifier"])


def _post(http: Any, headers: dict[str, str], identifier: str, action: str,
          body: dict[str, Any] | None = None) -> Any:
    return http.post(f"/licences/{identifier}/{action}", json=body or REASON, headers=headers)


def _status(http: Any, headers: dict[str, str], identifier: str) -> str:
    return str(http.get(f"/licences/{identifier}", headers=headers).json()["status"])


@pytest.mark.parametrize(("steps", "final"), [
    (["suspend"], "suspended"),
    (["suspend", "lift-suspension"], "valid"),
    (["report-lost"], "lost"),
    (["report-lost", "withdraw-loss"], "valid"),
    (["revoke"], "revoked"),
    (["suspend", "revoke"], "revoked"),
    (["report-lost", "revoke"], "revoked"),
], ids=lambda value: "+".join(value) if isinstance(value, list) else value)
def test_legal_transitions_reach_their_state(http: Any, market: dict[str, str], licence: str,
                                             steps: list[str], final: str) -> None:
    for step in steps:
        response = _post(http, market, licence, step, REVOKE if step == "revoke" else None)
        assert response.status_code == 200, response.text
    assert _status(http, market, licence) == final


@pytest.mark.parametrize(("steps", "illegal"), [
    (["revoke"], "lift-suspension"),
    (["revoke"], "suspend"),
    (["revoke"], "revoke"),
    (["revoke"], "change"),
    ([], "lift-suspension"),
    ([], "withdraw-loss"),
    (["suspend"], "suspend"),
    (["suspend"], "report-lost"),
    (["suspend"], "change"),
    (["report-lost"], "suspend"),
    (["change"], "change"),
    (["change"], "suspend"),
    (["change"], "renew"),
], ids=lambda value: "+".join(value) if isinstance(value, list) else value)
def test_illegal_transitions_are_409_and_change_nothing(http: Any, market: dict[str, str],
                                                        licence: str, steps: list[str],
                                                        illegal: str) -> None:
    for step in steps:
        body = REVOKE if step == "revoke" else REASON if step != "change" else {"reason": "变更"}
        assert _post(http, market, licence, step, body).status_code in (200, 201)
    before = _status(http, market, licence)
    history = len(http.get(f"/licences/{licence}/history", headers=market).json())
    body = REVOKE if illegal == "revoke" else {"reason": "x"} if illegal in (
        "change", "renew") else REASON
    response = _post(http, market, licence, illegal, body)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "licence.illegal_transition"
    assert _status(http, market, licence) == before
    assert len(http.get(f"/licences/{licence}/history", headers=market).json()) == history


def test_every_transition_records_who_when_why_and_effective_date(
    http: Any, registry: Runtime, market: dict[str, str], licence: str
) -> None:
    effective = datetime.now(UTC).astimezone(CHINA_TZ).isoformat()
    _post(http, market, licence, "suspend", {**REASON, "effective_at": effective})
    history = http.get(f"/licences/{licence}/history", headers=market).json()
    assert [event["action"] for event in history] == ["issued", "suspended"]
    suspended = history[1]
    assert suspended["operation_code"] == "03"
    assert (suspended["from_status"], suspended["to_status"]) == ("valid", "suspended")
    assert suspended["reason"] == REASON["reason"]
    assert suspended["legal_basis"] == REASON["legal_basis"]
    assert suspended["actor"].startswith("client:issuer-")
    assert datetime.fromisoformat(suspended["effective_at"]) == datetime.fromisoformat(effective)
    with registry.unit_of_work(readonly=True) as services:
        actions = [entry.details.get("action") for entry in services.session.scalars(
            select(AuditEntry).where(AuditEntry.object_id == licence)
            .where(AuditEntry.action == "licence.status_changed"))]
    assert actions == ["suspended"]


def test_a_change_cannot_take_effect_before_the_licence_was_issued(
    http: Any, market: dict[str, str], licence: str
) -> None:
    response = _post(http, market, licence, "suspend",
                     {**REASON, "effective_at": "2020-01-01T00:00:00+08:00"})
    assert response.status_code == 400, response.text
    assert "before licence" in response.json()["detail"]
    assert _status(http, market, licence) == "valid"


def test_revocation_records_kind_reason_code_and_legal_basis(http: Any, market: dict[str, str],
                                                             licence: str) -> None:
    assert _post(http, market, licence, "revoke", REVOKE).status_code == 200
    event = http.get(f"/licences/{licence}/history", headers=market).json()[-1]
    assert (event["operation_code"], event["reason_code"]) == ("05", "R-126")
    assert event["details"]["kind"] == "revoked"
    assert event["legal_basis"] == REVOKE["legal_basis"]


def test_revocation_without_a_legal_basis_is_refused(http: Any, market: dict[str, str],
                                                     licence: str) -> None:
    response = _post(http, market, licence, "revoke", {**REVOKE, "legal_basis": ""})
    assert response.status_code == 422
    assert _status(http, market, licence) == "valid"


def _backdate_issue(registry: Runtime, identifier: str, *, days: int) -> datetime:
    """Move a licence's issue (and its ``issued`` event) ``days`` into the past."""
    issued = datetime.now(UTC) - timedelta(days=days)
    with registry.unit_of_work() as services:
        licence = services.session.scalar(select(Licence).where(Licence.identifier == identifier))
        assert licence is not None
        licence.issued_at = issued
        services.session.execute(update(LicenceEvent).where(LicenceEvent.licence_id == licence.id)
                                 .values(effective_at=issued))
    return issued


def test_status_on_a_date_follows_effective_dates(http: Any, registry: Runtime,
                                                  market: dict[str, str], licence: str) -> None:
    issued = _backdate_issue(registry, licence, days=30)
    suspended_from = datetime.now(UTC) - timedelta(days=10)
    assert _post(http, market, licence, "suspend",
                 {**REASON, "effective_at": suspended_from.isoformat()}).status_code == 200

    def status_at(moment: datetime) -> str | None:
        response = http.get(f"/licences/{licence}/status",
                            params={"at": moment.isoformat()}, headers=market)
        assert response.status_code == 200, response.text
        value: str | None = response.json()["status"]
        return value

    assert status_at(issued - timedelta(days=1)) is None
    assert status_at(issued + timedelta(days=1)) == "valid"
    assert status_at(suspended_from + timedelta(days=1)) == "suspended"
    assert status_at(datetime.now(UTC)) == _status(http, market, licence) == "suspended"
    assert status_at(datetime(2040, 1, 1, tzinfo=UTC)) == "expired"


def test_a_change_dated_in_the_future_is_refused(http: Any, market: dict[str, str],
                                                 licence: str) -> None:
    later = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    response = _post(http, market, licence, "suspend", {**REASON, "effective_at": later})
    assert response.status_code == 400, response.text
    assert "in the future" in response.json()["detail"]
    assert _status(http, market, licence) == "valid"


def test_a_change_dated_before_the_previous_change_is_refused(
    http: Any, registry: Runtime, market: dict[str, str], licence: str
) -> None:
    _backdate_issue(registry, licence, days=30)
    suspended_from = datetime.now(UTC) - timedelta(days=10)
    _post(http, market, licence, "suspend", {**REASON, "effective_at": suspended_from.isoformat()})
    earlier = (suspended_from - timedelta(days=1)).isoformat()
    response = _post(http, market, licence, "lift-suspension",
                     {"reason": "整改完成", "effective_at": earlier})
    assert response.status_code == 400, response.text
    assert _status(http, market, licence) == "suspended"


def _age(registry: Runtime, identifier: str, *, valid_until: date) -> None:
    """Move a licence's issue and end dates into the past (time travel for expiry tests)."""
    _backdate_issue(registry, identifier, days=(date.today() - valid_until).days + 365)
    with registry.unit_of_work() as services:
        services.session.execute(update(Licence).where(Licence.identifier == identifier)
                                 .values(valid_until=valid_until))


def test_a_licence_past_its_end_date_reads_expired_before_any_sweeper(
    http: Any, registry: Runtime, market: dict[str, str], licence: str
) -> None:
    _age(registry, licence, valid_until=date(2026, 1, 1))
    assert _status(http, market, licence) == "expired"
    assert http.get(f"/public/licences/{licence}/status").json()["status"] == "expired"
    with registry.unit_of_work(readonly=True) as services:
        row = services.session.scalar(select(Licence).where(Licence.identifier == licence))
        assert row is not None and row.status is LicenceStatus.VALID  # not yet swept


def test_the_expiry_sweeper_writes_expiry_into_the_history(
    http: Any, registry: Runtime, market: dict[str, str], licence: str
) -> None:
    _age(registry, licence, valid_until=date(2026, 1, 1))
    with registry.unit_of_work() as services:
        assert services.lifecycle.expire_due(at=utcnow()) == 1
    with registry.unit_of_work() as services:
        assert services.lifecycle.expire_due(at=utcnow()) == 0
    history = http.get(f"/licences/{licence}/history", headers=market).json()
    [event] = [item for item in history if item["action"] == "expired"]
    assert (event["operation_code"], event["from_status"], event["to_status"]) == \
        ("04", "valid", "expired")
    assert event["effective_at"].startswith("2026-01-01T15:59:59")  # 23:59:59 Beijing


def test_an_expired_licence_cannot_be_suspended(http: Any, registry: Runtime,
                                                market: dict[str, str], licence: str) -> None:
    _age(registry, licence, valid_until=date(2026, 1, 1))
    assert _post(http, market, licence, "suspend").status_code == 409


def test_a_change_issues_the_next_version_and_supersedes_this_one(
    http: Any, market: dict[str, str], licence: str, tmp_path: Any
) -> None:
    fields = {**food_request()["fields"], "premises": "北京市朝阳区建国路99号"}
    response = _post(http, market, licence, "change", {"reason": "经营场所变更", "fields": fields})
    assert response.status_code == 201, response.text
    successor = response.json()
    old, new = LicenceIdentifier.parse(licence), LicenceIdentifier.parse(successor["identifier"])
    assert (new.serial, new.version) == (old.serial, 2)
    assert new.check == successor["identifier"][-1] != "" and str(new) != str(old)
    assert successor["fields"]["premises"] == "北京市朝阳区建国路99号"
    assert successor["previous"] == licence
    previous = http.get(f"/licences/{licence}", headers=market).json()
    assert previous["status"] == "superseded"
    assert previous["superseded_by"] == successor["identifier"]
    assert http.get(f"/public/licences/{licence}/status").json()["superseded_by"] == \
        successor["identifier"]
    assert successor["pdf_sha256"] != previous["pdf_sha256"]


def test_a_change_with_invalid_fields_changes_nothing(http: Any, market: dict[str, str],
                                                      licence: str) -> None:
    fields = {**food_request()["fields"], "business_format": "网吧"}
    response = _post(http, market, licence, "change", {"reason": "x", "fields": fields})
    assert response.status_code == 422
    assert _status(http, market, licence) == "valid"


def test_a_renewal_extends_validity_in_a_new_version(http: Any, registry: Runtime,
                                                     market: dict[str, str],
                                                     licence: str) -> None:
    _age(registry, licence, valid_until=date(2026, 1, 1))
    response = _post(http, market, licence, "renew",
                     {"reason": "延续", "valid_from": "2026-11-01"})
    assert response.status_code == 201, response.text
    renewed = response.json()
    assert (renewed["valid_from"], renewed["valid_until"]) == ("2026-11-01", "2031-10-31")
    assert renewed["status"] == "valid"
    history = http.get(f"/licences/{licence}/history", headers=market).json()
    assert history[-1]["action"] == "renewed"
    assert history[-1]["operation_code"] == "02"


def test_another_issuer_cannot_change_a_licence(http: Any, registry: Runtime, licence: str
                                                ) -> None:
    from .conftest import REAL_ESTATE, issuer_headers

    stranger = issuer_headers(registry, REAL_ESTATE)
    assert _post(http, stranger, licence, "suspend").status_code == 404


def test_the_transition_table_has_an_operation_code_for_every_action() -> None:
    assert {t.action.operation_code for t in TRANSITIONS.values()} <= \
        {"01", "02", "03", "04", "05", "06", "07", "08"}
    assert TransitionAction.ISSUED.operation_code == "01"


REVOCATION_KINDS = pytest.mark.parametrize("kind", ["cancelled", "revoked", "withdrawn"],
                                           ids=["注销-cancelled", "吊销-revoked", "撤销-withdrawn"])


@REVOCATION_KINDS
def test_every_revocation_kind_ends_the_licence(http: Any, market: dict[str, str], licence: str,
                                               kind: str) -> None:
    response = _post(http, market, licence, "revoke", {**REVOKE, "kind": kind})
    assert response.status_code == 200, response.text
    assert _status(http, market, licence) == "revoked"
    assert http.get(f"/public/licences/{licence}/status").json()["status"] == "revoked"


@REVOCATION_KINDS
def test_every_revocation_kind_is_recorded_with_its_reason_and_legal_basis(
    http: Any, market: dict[str, str], licence: str, kind: str
) -> None:
    _post(http, market, licence, "revoke", {**REVOKE, "kind": kind})
    event = http.get(f"/licences/{licence}/history", headers=market).json()[-1]
    assert (event["action"], event["operation_code"]) == ("revoked", "05")
    assert event["details"]["kind"] == kind
    assert (event["reason_code"], event["reason"], event["legal_basis"]) == \
        (REVOKE["reason_code"], REVOKE["reason"], REVOKE["legal_basis"])


@REVOCATION_KINDS
def test_a_licence_ended_by_any_revocation_kind_cannot_be_lifted(
    http: Any, market: dict[str, str], licence: str, kind: str
) -> None:
    _post(http, market, licence, "revoke", {**REVOKE, "kind": kind})
    response = _post(http, market, licence, "lift-suspension")
    assert response.status_code == 409, response.text
    assert _status(http, market, licence) == "revoked"


def test_an_unknown_revocation_kind_is_refused(http: Any, market: dict[str, str],
                                               licence: str) -> None:
    response = _post(http, market, licence, "revoke", {**REVOKE, "kind": "abolished"})
    assert response.status_code == 422, response.text
    assert _status(http, market, licence) == "valid"
