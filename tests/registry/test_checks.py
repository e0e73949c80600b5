"""Certificate-free checks (免提交): consent, use codes, agents, reasons, minimisation, receipts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography import x509 as pyca
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.jose import JWSError, b64url
from zhengyin.core.models import AuditEntry, ClientRole
from zhengyin.registry.catalogue import example_service_items
from zhengyin.registry.holders import HolderKind
from zhengyin.registry.models import Licence, LicenceUse, UseCode
from zhengyin.registry.receipts import DISPLAY_TYP, verify_receipt
from zhengyin.trust.jws import SignerTrust

from ..support import bearer
from .conftest import BUSINESS_TYPE, MARKET, REAL_ESTATE, food_request, issuer_headers

COMPANY = "91110000600037341L"
STAFF = "11010519491231002X"
ITEM = "11110105-FOOD-0001"


def _business(holder: str = COMPANY) -> dict[str, Any]:
    return {
        "type_code": BUSINESS_TYPE, "holder_kind": "credit-code", "holder_code": holder,
        "holder_name": "北京某某科技有限公司",
        "fields": {"name": "北京某某科技有限公司", "entity_type": "有限责任公司",
                   "legal_representative": "李四", "registered_capital": "壹仟万元整",
                   "established": "2015-06-01", "address": "北京市朝阳区望京街10号",
                   "business_scope": "技术开发"},
    }


def _premises(holder: str = COMPANY) -> dict[str, Any]:
    return {
        "type_code": "11100000000013338W087", "holder_kind": "credit-code",
        "holder_code": holder, "holder_name": "北京某某科技有限公司",
        "fields": {"right_holder": "北京某某科技有限公司", "co_ownership": "单独所有",
                   "location": "朝阳区望京街10号", "unit_number": "110105008001GB00012F00030058",
                   "right_type": "房屋所有权", "right_nature": "市场化商品房", "usage": "商业",
                   "area": "120.00㎡"},
    }


class World:
    """Issuers, an intake client, the holder company and its staff member."""

    def __init__(self, http: Any, runtime: Runtime, credentials: dict[ClientRole, str]) -> None:
        self.http = http
        self.runtime = runtime
        self.market = issuer_headers(runtime, MARKET)
        self.estate = issuer_headers(runtime, REAL_ESTATE)
        self.intake = bearer(credentials[ClientRole.INTAKE])
        self.intake_id = credentials[ClientRole.INTAKE].split(".")[1]
        self.admin = bearer(credentials[ClientRole.ADMIN])
        response = http.put("/admin/service-items", json=example_service_items(),
                            headers=self.admin)
        assert response.status_code == 200, response.text
        self.company = bearer(self.token(COMPANY, HolderKind.CREDIT_CODE))

    def token(self, code: str, kind: HolderKind = HolderKind.CITIZEN_ID) -> str:
        with self.runtime.unit_of_work() as services:
            return self.runtime.holder_tokens.mint(services, code, kind, at=utcnow())

    def issue(self, headers: dict[str, str], body: dict[str, Any]) -> str:
        response = self.http.post("/licences", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["identifier"])

    def other_intake(self) -> str:
        with self.runtime.unit_of_work() as services:
            issued = services.clients.add(name="another-intake", role=ClientRole.INTAKE,
                                          org_credit_code=None, at=utcnow(), actor="test")
        return issued.client.id

    def consent(self, **overrides: Any) -> str:
        body = {"item_code": ITEM, **overrides}
        response = self.http.post("/holder/consents", json=body, headers=self.company)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def check(self, **overrides: Any) -> Any:
        body = {"holder_kind": "credit-code", "holder_code": COMPANY, "item_code": ITEM,
                "case_number": "CY-2026-000123", "purpose": "食品经营许可新办审查", **overrides}
        return self.http.post("/checks", json=body, headers=self.intake)


@pytest.fixture
def world(http: Any, registry: Runtime, credentials: dict[ClientRole, str]) -> World:
    """A populated registry for checks."""
    return World(http, registry, credentials)


def test_a_consented_check_is_satisfied_with_the_fields_the_item_may_receive(world: World
                                                                              ) -> None:
    business = world.issue(world.market, _business())
    world.issue(world.estate, _premises())
    response = world.check(consent_id=world.consent())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["satisfied"] is True
    by_material = {m["material"]: m for m in body["materials"]}
    licence = by_material["business-licence"]
    assert licence["identifier"] == business
    assert set(licence["fields"]) == {"name", "entity_type", "legal_representative", "address"}
    assert "registered_capital" not in response.text and "business_scope" not in response.text
    assert set(by_material["premises"]["fields"]) == {"right_holder", "location", "usage"}


def test_each_disclosed_licence_is_one_use_record_and_audited(world: World) -> None:
    business = world.issue(world.market, _business())
    premises = world.issue(world.estate, _premises())
    consent = world.consent()
    check_id = world.check(consent_id=consent).json()["check_id"]
    with world.runtime.unit_of_work(readonly=True) as services:
        uses = list(services.session.scalars(select(LicenceUse).where(
            LicenceUse.check_id == check_id)))
        audited = [entry.action for entry in services.session.scalars(
            select(AuditEntry).where(AuditEntry.details["check"].as_string() == check_id))]
    assert {use.identifier: (use.fields, use.version, use.consent_id, use.use_code_id,
                             use.client_id, use.item_code, use.case_number, use.purpose)
            for use in uses} == {
        business: (["address", "entity_type", "legal_representative", "name"], 1, consent,
                   None, world.intake_id, ITEM, "CY-2026-000123", "食品经营许可新办审查"),
        premises: (["location", "right_holder", "usage"], 1, consent,
                   None, world.intake_id, ITEM, "CY-2026-000123", "食品经营许可新办审查"),
    }
    assert audited.count("licence.used") == 2


def _recorded(runtime: Runtime, check_id: str) -> tuple[list[tuple[Any, ...]], list[str]]:
    with runtime.unit_of_work(readonly=True) as services:
        uses = [(use.identifier, use.version, use.fields, use.consent_id, use.client_id,
                 use.client_name, use.item_name, use.case_number, use.purpose)
                for use in services.session.scalars(select(LicenceUse).where(
                    LicenceUse.check_id == check_id).order_by(LicenceUse.identifier))]
        audited = sorted(entry.action for entry in services.session.scalars(
            select(AuditEntry).where(AuditEntry.details["check"].as_string() == check_id)))
    return uses, audited


def test_a_check_on_the_event_loop_answers_and_records_as_the_session_path_does(
        world: World) -> None:
    # On PostgreSQL a check under a consent runs on the event loop (core/asyncdb.py);
    # every other check runs through a session. The two must not drift apart.
    if world.runtime.async_statements is None:
        pytest.skip("SQLite runs every check through a session")
    from zhengyin.api.schemas.checks import CheckRead
    from zhengyin.registry.checks import Caller, CheckRequest

    world.issue(world.market, _business())
    world.issue(world.estate, _premises())
    consent = world.consent()
    on_loop = world.check(consent_id=consent)
    assert on_loop.status_code == 200, on_loop.text
    with world.runtime.unit_of_work() as services:
        client = services.clients.get(world.intake_id)
        outcome = services.checks.check(
            CheckRequest(holder_kind="credit-code", holder_code=COMPANY, item_code=ITEM,
                         case_number="CY-2026-000123", purpose="食品经营许可新办审查",
                         consent_id=consent),
            Caller(client_id=client.id, client_name=client.name, actor=f"client:{client.name}"),
            at=utcnow())
    in_session = CheckRead.of(outcome).model_dump(mode="json")

    answers = [{key: value for key, value in answer.items()
                if key not in {"check_id", "at", "receipt"}}
               for answer in (on_loop.json(), in_session)]
    assert answers[0] == answers[1] and answers[0]["satisfied"] is True
    assert _recorded(world.runtime, on_loop.json()["check_id"]) \
        == _recorded(world.runtime, outcome.check_id)
    assert len(_recorded(world.runtime, outcome.check_id)[0]) == 2


@pytest.mark.parametrize(("change", "reason"), [
    ("expired", "expired"),
    ("suspended", "suspended"),
    ("revoked", "revoked"),
    ("lost", "lost"),
])
def test_each_not_satisfied_reason_is_given(world: World, change: str, reason: str) -> None:
    identifier = world.issue(world.market, _business())
    with world.runtime.unit_of_work() as services:
        values: dict[str, Any] = {"valid_until": date(2026, 1, 1)} if change == "expired" \
            else {"status": change}
        services.session.execute(update(Licence).where(Licence.identifier == identifier)
                                 .values(**values))
    body = world.check(consent_id=world.consent()).json()
    material = {m["material"]: m for m in body["materials"]}["business-licence"]
    assert (material["satisfied"], material["reason"]) == (False, reason)
    assert "identifier" not in material or material["identifier"] is None
    assert material["fields"] is None


def test_none_held_is_a_reason_too(world: World) -> None:
    body = world.check(consent_id=world.consent()).json()
    assert body["satisfied"] is False
    assert {m["reason"] for m in body["materials"]} == {"none-held"}


def test_a_licence_of_a_type_the_item_does_not_accept_is_neither_used_nor_shown(
        world: World) -> None:
    food = world.issue(world.market, food_request(holder_code=COMPANY))  # not for FOOD-0001
    response = world.check(consent_id=world.consent())
    assert {m["reason"] for m in response.json()["materials"]} == {"none-held"}
    assert food not in response.text
    with world.runtime.unit_of_work(readonly=True) as services:
        assert services.session.scalar(
            select(LicenceUse).where(LicenceUse.identifier == food)) is None


def test_the_newest_valid_version_satisfies_after_a_change(world: World) -> None:
    identifier = world.issue(world.market, _business())
    fields = {**_business()["fields"], "address": "北京市朝阳区新地址1号"}
    changed = world.http.post(f"/licences/{identifier}/change",
                              json={"reason": "住所变更", "fields": fields},
                              headers=world.market).json()
    material = world.check(consent_id=world.consent()).json()["materials"][0]
    assert material["identifier"] == changed["identifier"]
    assert material["fields"]["address"] == "北京市朝阳区新地址1号"


@pytest.mark.parametrize("defect", ["none", "withdrawn", "expired", "other-client",
                                    "other-case", "other-item", "unknown-holder",
                                    "malformed-holder"])
def test_without_valid_consent_the_403_reveals_nothing(world: World, defect: str) -> None:
    world.issue(world.market, _business())
    overrides: dict[str, Any] = {}
    if defect == "none":
        overrides["consent_id"] = "0" * 32
    else:
        consent = world.consent(**({"client_id": world.other_intake()}
                                   if defect == "other-client"
                                   else {"case_number": "OTHER"} if defect == "other-case"
                                   else {}))
        overrides["consent_id"] = consent
        if defect == "withdrawn":
            world.http.post(f"/holder/consents/{consent}/withdraw", headers=world.company)
        elif defect == "expired":
            with world.runtime.unit_of_work() as services:
                from zhengyin.registry.models import Consent

                services.session.execute(update(Consent).where(Consent.id == consent).values(
                    expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        elif defect == "other-item":
            overrides["item_code"] = "11110105-FOOD-0002"
        elif defect == "unknown-holder":
            overrides["holder_code"] = "11100000000013338W"
        elif defect == "malformed-holder":
            overrides["holder_code"] = "NOT-A-CODE"
    response = world.check(**overrides)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "consent.missing"
    assert body["detail"] == "no valid consent or use code covers this request"


def _refusal(response: Any) -> tuple[int, str, dict[str, Any]]:
    """A 403 as a caller sees it (its request id differs from call to call)."""
    body = {key: value for key, value in response.json().items() if key != "request_id"}
    return response.status_code, response.headers["content-type"], body


def test_the_403_is_the_same_whether_the_holder_holds_licences_or_not(world: World) -> None:
    world.issue(world.market, _business())
    world.issue(world.estate, _premises())
    world.consent()
    holds = world.check(consent_id="0" * 32)
    holds_nothing = world.check(consent_id="0" * 32, holder_code="11100000000013338W")
    unknown = world.check(consent_id="0" * 32, holder_code="NOT-A-CODE")
    no_item = world.check(consent_id="0" * 32, item_code="NO-SUCH-ITEM")
    assert _refusal(holds)[0] == 403
    assert _refusal(holds) == _refusal(holds_nothing) == _refusal(unknown) == _refusal(no_item)


def test_a_case_bound_consent_serves_its_case(world: World) -> None:
    business = world.issue(world.market, _business())
    consent = world.consent(case_number="CY-2026-000123", client_id=world.intake_id)
    response = world.check(consent_id=consent, case_number="CY-2026-000123")
    assert response.status_code == 200, response.text
    assert response.json()["materials"][0]["identifier"] == business


def test_the_holder_lists_their_consents_newest_first_with_withdrawals(world: World) -> None:
    first = world.consent()
    second = world.consent(case_number="CY-2026-000123", client_id=world.intake_id)
    world.http.post(f"/holder/consents/{first}/withdraw", headers=world.company)
    listed = world.http.get("/holder/consents", headers=world.company)
    assert listed.status_code == 200
    rows = listed.json()
    assert [row["id"] for row in rows] == [second, first]
    assert (rows[0]["item_code"], rows[0]["client_id"], rows[0]["case_number"]) == (
        ITEM, world.intake_id, "CY-2026-000123")
    assert rows[0]["withdrawn_at"] is None and rows[1]["withdrawn_at"] is not None
    stranger = bearer(world.token(STAFF))
    assert world.http.get("/holder/consents", headers=stranger).json() == []


def test_a_consent_for_any_client_serves_every_intake_system(world: World) -> None:
    world.issue(world.market, _business())
    assert world.check(consent_id=world.consent(client_id=None)).status_code == 200


def test_consent_expiry_is_capped(world: World) -> None:
    far = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    consent = world.http.post("/holder/consents", json={"item_code": ITEM, "expires_at": far},
                              headers=world.company).json()
    granted = datetime.fromisoformat(consent["granted_at"])
    assert datetime.fromisoformat(consent["expires_at"]) - granted == timedelta(days=90)


def test_a_use_code_works_once_for_its_item(world: World) -> None:
    world.issue(world.market, _business())
    code = world.http.post("/holder/use-codes", json={"item_code": ITEM},
                           headers=world.company).json()["code"]
    assert len(code) == 9 and code[4] == "-"
    assert world.check(use_code=code.lower().replace("-", " ")).status_code == 200
    again = world.check(use_code=code)
    assert again.status_code == 403


def test_a_use_code_is_refused_for_another_item(world: World) -> None:
    code = world.http.post("/holder/use-codes", json={"item_code": ITEM},
                           headers=world.company).json()["code"]
    assert world.check(use_code=code, item_code="11110105-FOOD-0002").status_code == 403
    assert world.check(use_code=code).status_code == 200  # not consumed by the refusal


def test_an_expired_use_code_is_refused(world: World) -> None:
    code = world.http.post("/holder/use-codes", json={"item_code": ITEM},
                           headers=world.company).json()["code"]
    with world.runtime.unit_of_work() as services:
        services.session.execute(update(UseCode).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert world.check(use_code=code).status_code == 403


def test_use_codes_are_stored_only_as_hashes(world: World) -> None:
    code = world.http.post("/holder/use-codes", json={"item_code": ITEM},
                           headers=world.company).json()["code"]
    with world.runtime.unit_of_work(readonly=True) as services:
        rows = list(services.session.scalars(select(UseCode)))
    assert code.replace("-", "") not in json.dumps([r.code_sha256 for r in rows])
    assert len(rows[0].code_sha256) == 64


def test_an_agent_acts_for_the_company_only_with_a_grant(world: World) -> None:
    world.issue(world.market, _business())
    staff = bearer(world.token(STAFF))
    refused = world.http.post("/holder/use-codes", params={"for": COMPANY},
                              json={"item_code": ITEM}, headers=staff)
    assert refused.status_code == 403
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    grant = world.http.post("/holder/agents", json={"agent_code": STAFF, "expires_at": expires},
                            headers=world.company)
    assert grant.status_code == 201, grant.text
    code = world.http.post("/holder/use-codes", params={"for": COMPANY},
                           json={"item_code": ITEM}, headers=staff)
    assert code.status_code == 201
    assert world.check(use_code=code.json()["code"]).status_code == 200
    world.http.post(f"/holder/agents/{grant.json()['id']}/revoke", headers=world.company)
    after = world.http.post("/holder/consents", params={"for": COMPANY},
                            json={"item_code": ITEM}, headers=staff)
    assert after.status_code == 403


def _receipt(world: World) -> tuple[dict[str, Any], SignerTrust]:
    """A check's answer (with its receipt) and the root receipts chain to."""
    world.issue(world.market, _business())
    body = world.check(consent_id=world.consent()).json()
    with world.runtime.unit_of_work(readonly=True) as services:
        anchors = SignerTrust.roots_only([services.pki.identity("root").der])
    return body, anchors


def _b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def _flip_last_char(text: str) -> str:
    """Change one base64url character that carries only significant bits."""
    return text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1]


def test_the_receipt_verifies_offline_against_our_root(world: World) -> None:
    body, anchors = _receipt(world)
    payload = verify_receipt(body["receipt"], anchors)
    assert payload["check_id"] == body["check_id"]
    assert (payload["case_number"], payload["purpose"]) == ("CY-2026-000123",
                                                            "食品经营许可新办审查")
    assert payload["results"][0]["fields"] == body["materials"][0]["fields"]


def test_a_receipt_with_a_changed_payload_fails(world: World) -> None:
    body, anchors = _receipt(world)
    header, claims, signature = body["receipt"].split(".")
    with pytest.raises(JWSError):
        verify_receipt(f"{header}.{_flip_last_char(claims)}.{signature}", anchors)


def test_a_receipt_with_a_changed_signature_fails(world: World) -> None:
    body, anchors = _receipt(world)
    header, claims, signature = body["receipt"].split(".")
    with pytest.raises(JWSError):
        verify_receipt(f"{header}.{claims}.{_flip_last_char(signature)}", anchors)
    with pytest.raises(JWSError):
        verify_receipt(f"{header}.{claims}.", anchors)


@pytest.mark.parametrize("rewrite", [{"alg": "none"}, {"typ": "JWT"}, {"typ": "zy-display"}])
def test_a_receipt_whose_header_is_rewritten_fails(world: World,
                                                    rewrite: dict[str, str]) -> None:
    body, anchors = _receipt(world)
    _header, claims, signature = body["receipt"].split(".")
    forged = _b64url_json({**jwt.get_unverified_header(body["receipt"]), **rewrite})
    with pytest.raises(JWSError):
        verify_receipt(f"{forged}.{claims}.{signature}", anchors)
    if rewrite.get("alg") == "none":  # an unsigned token, as RFC 7519 allows
        with pytest.raises(JWSError):
            verify_receipt(f"{forged}.{claims}.", anchors)


def test_a_token_the_registry_signed_for_another_purpose_is_not_a_receipt(world: World
                                                                          ) -> None:
    body, anchors = _receipt(world)
    with world.runtime.unit_of_work(readonly=True) as services:
        signer = services.registry_signer()
    other = signer.sign(verify_receipt(body["receipt"], anchors), typ=DISPLAY_TYP)
    with pytest.raises(JWSError, match="not a zhengyin-receipt"):
        verify_receipt(other, anchors)


def test_a_receipt_fails_against_a_stranger_root_of_the_same_name(world: World) -> None:
    body, anchors = _receipt(world)
    ours = pyca.load_der_x509_certificate(anchors.anchors[0])
    with pytest.raises(JWSError):
        verify_receipt(body["receipt"], SignerTrust.roots_only([_self_signed(ours.subject)]))
    with pytest.raises(JWSError):
        verify_receipt(body["receipt"], SignerTrust.roots_only([]))


def _self_signed(subject: pyca.Name) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (pyca.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(1)
                   .not_valid_before(now - timedelta(days=3650))
                   .not_valid_after(now + timedelta(days=3650))
                   .add_extension(pyca.BasicConstraints(ca=True, path_length=None),
                                  critical=True)
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.DER)


def _readme_request_digest(request: dict[str, Any]) -> str:
    """``request_sha256`` as docs/api.md "Verifying a receipt offline" describes it."""
    canonical = {"consent_id": None, "materials": [], **request,
                 "use_code": bool(request.get("use_code"))}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("authority", ["consent", "use-code"])
def test_the_receipt_request_digest_is_recomputable_from_the_request(world: World,
                                                                     authority: str) -> None:
    world.issue(world.market, _business())
    request: dict[str, Any] = {
        "holder_kind": "credit-code", "holder_code": COMPANY, "item_code": ITEM,
        "case_number": "CY-2026-000123", "purpose": "食品经营许可新办审查",
        "materials": ["business-licence"]}
    if authority == "consent":
        request["consent_id"] = world.consent()
    else:
        request["use_code"] = world.http.post("/holder/use-codes", json={"item_code": ITEM},
                                              headers=world.company).json()["code"]
    response = world.http.post("/checks", json=request, headers=world.intake)
    assert response.status_code == 200, response.text
    with world.runtime.unit_of_work(readonly=True) as services:
        payload = verify_receipt(response.json()["receipt"],
                                 services.identities.signer_trust())
    assert payload["request_sha256"] == _readme_request_digest(request)
    if authority == "use-code":
        assert request["use_code"] not in response.json()["receipt"]


def test_the_request_digest_of_a_request_without_optional_fields_is_recomputable(
    world: World
) -> None:
    request = {"holder_kind": "credit-code", "holder_code": COMPANY, "item_code": ITEM,
               "case_number": "CY-2026-000123", "purpose": "食品经营许可新办审查",
               "consent_id": world.consent()}
    response = world.http.post("/checks", json=request, headers=world.intake)
    with world.runtime.unit_of_work(readonly=True) as services:
        payload = verify_receipt(response.json()["receipt"],
                                 services.identities.signer_trust())
    assert payload["request_sha256"] == _readme_request_digest(request)


def test_the_receipt_is_retrievable_by_the_checking_client_only(world: World,
                                                               credentials: dict[ClientRole,
                                                                                 str]) -> None:
    world.issue(world.market, _business())
    check_id = world.check(consent_id=world.consent()).json()["check_id"]
    mine = world.http.get(f"/checks/{check_id}/receipt", headers=world.intake)
    assert mine.status_code == 200 and mine.text.count(".") == 2
    with world.runtime.unit_of_work() as services:
        other = services.clients.add(name="other-intake", role=ClientRole.INTAKE,
                                     org_credit_code=None, at=utcnow(), actor="t").credential
    assert world.http.get(f"/checks/{check_id}/receipt",
                          headers=bearer(other)).status_code == 404


def test_the_holder_and_the_issuer_see_the_uses(world: World) -> None:
    business = world.issue(world.market, _business())
    world.check(consent_id=world.consent())
    holder_uses = world.http.get("/holder/uses", headers=world.company).json()
    assert [use["identifier"] for use in holder_uses] == [business]
    assert holder_uses[0]["client_name"] == "test-intake"
    issuer_uses = world.http.get("/uses", headers=world.market).json()
    assert [use["identifier"] for use in issuer_uses] == [business]
    estate_uses = world.http.get("/uses", headers=world.estate).json()
    assert estate_uses == []


@pytest.fixture
def limited_world(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The world with checks limited to 12 a minute per client (a burst of 2)."""
    from zhengyin.api.routes import checks as routes

    monkeypatch.setattr(world.runtime.settings, "check_rate_per_minute", 12)
    routes._limiter.cache_clear()  # the limiter is per process; start with full buckets
    yield world
    routes._limiter.cache_clear()


def test_checks_beyond_the_clients_rate_are_refused_with_429(limited_world: World) -> None:
    world = limited_world
    consent = world.consent(client_id=None)
    assert [world.check(consent_id=consent).status_code for _ in range(2)] == [200, 200]
    refused = world.check(consent_id=consent)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["status"] == 429


def test_one_clients_rate_limit_leaves_another_client_unaffected(limited_world: World) -> None:
    world = limited_world
    consent = world.consent(client_id=None)
    assert [world.check(consent_id=consent).status_code for _ in range(3)][-1] == 429
    with world.runtime.unit_of_work() as services:
        other = services.clients.add(name="other-intake", role=ClientRole.INTAKE,
                                     org_credit_code=None, at=utcnow(), actor="t").credential
    body = {"holder_kind": "credit-code", "holder_code": COMPANY, "item_code": ITEM,
            "case_number": "CY-2026-000123", "purpose": "食品经营许可新办审查",
            "consent_id": consent}
    assert world.http.post("/checks", json=body, headers=bearer(other)).status_code == 200
    assert world.check(consent_id=consent).status_code == 429


def test_check_purpose_is_limited_to_200_characters(world: World) -> None:
    response = world.check(consent_id=world.consent(), purpose="审" * 201)
    assert response.status_code == 422
