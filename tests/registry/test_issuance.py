"""Issuing licences: checks, identifiers, sealed PDFs, atomicity, idempotency, concurrency."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from zhengyin.api.runtime import Runtime
from zhengyin.api.settings import Settings
from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditEntry
from zhengyin.registry.identifiers import LicenceIdentifier
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.registry.models import Licence, LicenceEvent
from zhengyin.signing.models import SealUse
from zhengyin.trust.auditverify import verify_audit_chain

from .conftest import (
    BIRTH_TYPE,
    BUSINESS_TYPE,
    ESTATE_TYPE,
    FOOD_TYPE,
    HOSPITAL,
    HOUSING,
    MARKET,
    PERMIT_TYPE,
    REAL_ESTATE,
    food_request,
    issuer_headers,
)

EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "营业执照": (MARKET, {
        "type_code": BUSINESS_TYPE, "holder_kind": "credit-code",
        "holder_code": "91110000600037341L", "holder_name": "北京某某科技有限公司",
        "fields": {"name": "北京某某科技有限公司", "entity_type": "有限责任公司",
                   "legal_representative": "李四", "registered_capital": "壹仟万元整",
                   "established": "2015-06-01", "operating_period": "长期",
                   "address": "北京市朝阳区望京街10号", "business_scope": "技术开发；技术服务"},
    }),
    "食品经营许可证": (MARKET, food_request()),
    "不动产权证书": (REAL_ESTATE, {
        "type_code": ESTATE_TYPE, "holder_kind": "citizen-id",
        "holder_code": "11010519491231002X", "holder_name": "王五",
        "fields": {"right_holder": "王五", "co_ownership": "单独所有",
                   "location": "朝阳区望京西园四区401号楼3单元502",
                   "unit_number": "110105008001GB00012F00030058",
                   "right_type": "国有建设用地使用权/房屋所有权",
                   "right_nature": "出让/市场化商品房", "usage": "城镇住宅用地/住宅",
                   "area": "89.56㎡", "land_use_period": "2000年01月01日起2070年12月31日止"},
    }),
    "出生医学证明": (HOSPITAL, {
        "type_code": BIRTH_TYPE, "holder_kind": "citizen-id",
        "holder_code": "110105202611010012", "holder_name": "赵小六",
        "fields": {"newborn_name": "赵小六", "sex": "男", "born_at": "2026-11-01 08:30",
                   "birthplace": "北京市朝阳区", "gestational_weeks": 39, "birth_weight_g": 3400,
                   "birth_length_cm": 50, "mother_name": "钱七", "father_name": "赵八",
                   "institution": "北京市朝阳区妇幼保健院"},
    }),
    "建筑工程施工许可证": (HOUSING, {
        "type_code": PERMIT_TYPE, "holder_kind": "credit-code",
        "holder_code": "91110000600037341L", "holder_name": "北京某某置业有限公司",
        "valid_until": "2027-11-21",
        "fields": {"builder": "北京某某置业有限公司", "project_name": "望京某某大厦",
                   "site": "北京市朝阳区望京街9号", "scale": "地上20层，建筑面积35000平方米",
                   "contract_price": "28000万元", "contractor": "北京某某建设集团有限公司",
                   "supervisor": "北京某某监理有限公司", "contract_duration": "720日历天"},
    }),
}


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("type_name", list(EXAMPLES))
def test_each_example_type_issues_a_sealed_licence(http: Any, registry: Runtime,
                                                   type_name: str) -> None:
    org, body = EXAMPLES[type_name]
    response = http.post("/licences", json=body, headers=issuer_headers(registry, org))
    assert response.status_code == 201, response.text
    licence = response.json()
    identifier = LicenceIdentifier.parse(licence["identifier"])
    assert (identifier.type_code, identifier.issuer_code, identifier.version) == \
        (body["type_code"], org, 1)
    assert licence["type_name"] == type_name
    assert licence["status"] == "valid"


def test_the_download_is_the_stored_file(http: Any, registry: Runtime,
                                        market: dict[str, str]) -> None:
    licence = http.post("/licences", json=food_request(), headers=market).json()
    pdf = http.get(f"/licences/{licence['identifier']}/pdf", headers=market)
    assert pdf.headers["content-type"] == "application/pdf"
    assert f'filename="{licence["identifier"]}.pdf"' in pdf.headers["content-disposition"]
    assert hashlib.sha256(pdf.content).hexdigest() == licence["pdf_sha256"]


def test_the_pdf_text_carries_the_fields_and_the_identifier(
    http: Any, registry: Runtime, market: dict[str, str], tmp_path: Path
) -> None:
    licence = http.post("/licences", json=food_request(), headers=market).json()
    (tmp_path / "l.pdf").write_bytes(
        http.get(f"/licences/{licence['identifier']}/pdf", headers=market).content)
    text = subprocess.run(["pdftotext", str(tmp_path / "l.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout.replace(" ", "")
    assert "食品经营许可证" in text
    assert "北京某某餐饮管理有限公司" in text
    assert licence["identifier"] in text.replace("\n", "")


def test_issuance_writes_history_seal_use_and_audit(http: Any, registry: Runtime,
                                                    market: dict[str, str]) -> None:
    identifier = http.post("/licences", json=food_request(), headers=market).json()["identifier"]
    with registry.unit_of_work(readonly=True) as services:
        licence = services.session.scalar(select(Licence).where(Licence.identifier == identifier))
        assert licence is not None
        events = services.session.scalars(
            select(LicenceEvent).where(LicenceEvent.licence_id == licence.id)).all()
        assert [(e.action.value, e.operation_code) for e in events] == [("issued", "01")]
        uses = services.session.scalars(select(SealUse).where(SealUse.case_number == identifier))
        assert [use.output_sha256 for use in uses] == [licence.pdf_sha256]
        audit = services.session.scalars(
            select(AuditEntry).where(AuditEntry.object_id == identifier)).all()
        assert [entry.action for entry in audit] == ["licence.issued"]
        verify_audit_chain(services.session, services.pki.public_key_of_serial)


def test_the_seal_use_audit_entry_names_the_use_and_precedes_the_licence_entry(
        http: Any, registry: Runtime, market: dict[str, str]) -> None:
    identifier = http.post("/licences", json=food_request(), headers=market).json()["identifier"]
    with registry.unit_of_work(readonly=True) as services:
        use = services.session.scalars(
            select(SealUse).where(SealUse.case_number == identifier)).one()
        entries = services.session.scalars(
            select(AuditEntry).where(AuditEntry.seq > 0).order_by(AuditEntry.seq)).all()
    mine = [entry for entry in entries
            if entry.object_id == identifier or entry.details.get("case") == identifier]
    assert [entry.action for entry in mine] == ["seal.used", "licence.issued"]
    assert mine[0].details["use"] == use.id


def test_the_issued_licence_is_the_stored_row_of_its_unit_of_work(registry: Runtime) -> None:
    with registry.unit_of_work() as services:
        issued = services.issuance.issue(IssueRequest(**food_request()), IssuingParty(
            org_code=MARKET, client_id=None, actor="test"), at=utcnow()).licence
        assert services.session.get(Licence, issued.id) is issued
        assert issued not in services.session.dirty
    with registry.unit_of_work(readonly=True) as services:
        stored = services.session.get(Licence, issued.id)
        assert stored is not None
        assert (stored.identifier, stored.pdf_sha256) == (issued.identifier, issued.pdf_sha256)


def test_an_issuer_may_issue_only_its_allowed_types(http: Any, registry: Runtime) -> None:
    hospital = issuer_headers(registry, HOSPITAL)
    response = http.post("/licences", json=food_request(), headers=hospital)
    assert response.status_code == 403
    assert response.json()["code"] == "licence.issuer_not_allowed"
    assert _count(registry, Licence) == 0


@pytest.mark.parametrize(("holder_kind", "holder_code"), [
    ("credit-code", "91110000600037341K"),
    ("credit-code", "9111000060003734"),
    ("citizen-id", "11010519491231002X"),
], ids=["bad-check-character", "too-short", "kind-not-accepted"])
def test_a_bad_holder_code_is_422_naming_the_field(http: Any, registry: Runtime,
                                                    market: dict[str, str], holder_kind: str,
                                                    holder_code: str) -> None:
    response = http.post("/licences", headers=market, json=food_request(
        holder_kind=holder_kind, holder_code=holder_code))
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] in ("holder_code", "holder_kind")
    assert holder_code not in response.text or holder_kind == "citizen-id"


def test_citizen_id_errors_never_echo_the_number(http: Any, registry: Runtime) -> None:
    org, body = EXAMPLES["不动产权证书"]
    body = {**body, "holder_code": "110105194912310021"}
    response = http.post("/licences", json=body, headers=issuer_headers(registry, org))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "holder_code"
    assert "110105194912310021" not in response.text


def _estate_for(holder_kind: str, holder_code: str) -> dict[str, Any]:
    _, body = EXAMPLES["不动产权证书"]  # held by citizen IDs, residence permits, passports, …
    return {**body, "holder_kind": holder_kind, "holder_code": holder_code}


@pytest.mark.parametrize(("holder_kind", "holder_code", "stored"), [
    ("residence-permit", "810000199408230021", "810000199408230021"),
    ("residence-permit", "830000199201300022", "830000199201300022"),
    ("passport", "E12345678", "E12345678"),
    ("passport", "ea1234567", "EA1234567"),
], ids=["hong-kong-permit", "taiwan-permit", "passport", "passport-lower-case"])
def test_a_person_may_hold_a_licence_by_residence_permit_or_passport(
    http: Any, registry: Runtime, holder_kind: str, holder_code: str, stored: str
) -> None:
    response = http.post("/licences", json=_estate_for(holder_kind, holder_code),
                         headers=issuer_headers(registry, REAL_ESTATE))
    assert response.status_code == 201, response.text
    licence = response.json()
    assert (licence["holder_kind"], licence["holder_code"]) == (holder_kind, stored)


@pytest.mark.parametrize(("holder_kind", "holder_code"), [
    ("residence-permit", "11010519491231002X"),
    ("citizen-id", "810000199408230021"),
    ("passport", "11010519491231002X"),
    ("passport", "G12345678"),
    ("residence-permit", "810000199408230022"),
    ("residence-permit", "E12345678"),
], ids=["citizen-id-as-permit", "permit-as-citizen-id", "citizen-id-as-passport",
        "not-a-passport-number", "permit-bad-check-character", "passport-as-permit"])
def test_a_holder_code_that_does_not_fit_its_kind_is_422_naming_the_field(
    http: Any, registry: Runtime, holder_kind: str, holder_code: str
) -> None:
    response = http.post("/licences", json=_estate_for(holder_kind, holder_code),
                         headers=issuer_headers(registry, REAL_ESTATE))
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["holder_code"]
    assert holder_code not in response.text
    assert _count(registry, Licence) == 0


def test_surface_fields_are_checked_against_the_type_schema(http: Any, registry: Runtime,
                                                            market: dict[str, str]) -> None:
    fields = {**food_request()["fields"], "business_format": "网吧", "colour": "red"}
    del fields["premises"]
    response = http.post("/licences", json=food_request(fields=fields), headers=market)
    assert response.status_code == 422
    named = {error["field"] for error in response.json()["errors"]}
    assert named == {"fields.business_format", "fields.premises", "fields.colour"}
    assert _count(registry, Licence) == 0


def test_k_missing_fields_give_k_errors_one_per_field(http: Any, registry: Runtime,
                                                      market: dict[str, str]) -> None:
    fields = dict(food_request()["fields"])
    for name in ("address", "premises", "business_items"):
        del fields[name]

    response = http.post("/licences", json=food_request(fields=fields), headers=market)

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": f"fields.{name}", "message": "required"}
        for name in ("address", "premises", "business_items")]


def test_a_licence_whose_validity_ended_before_issue_is_refused(
        http: Any, registry: Runtime, market: dict[str, str]) -> None:
    # Five years from 2010-03-01: ended in 2015.
    response = http.post("/licences", json=food_request(valid_from="2010-03-01"),
                         headers=market)

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "valid_until",
                                          "message": "ends before the day of issue"}]
    assert _count(registry, Licence) == 0


def test_an_explicit_end_date_in_the_past_is_refused(http: Any, registry: Runtime) -> None:
    org, body = EXAMPLES["建筑工程施工许可证"]
    response = http.post("/licences", json={**body, "valid_from": "2019-02-01",
                                            "valid_until": "2020-01-31"},
                         headers=issuer_headers(registry, org))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "valid_until"
    assert "ended on 2020-01-31" in response.json()["detail"]


def test_a_character_the_licence_font_lacks_is_422_before_anything_is_issued(
        http: Any, registry: Runtime, market: dict[str, str]) -> None:
    fields = {**food_request()["fields"], "address": "北京市𠀀路1号"}

    response = http.post("/licences", json=food_request(fields=fields), headers=market)

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "fields.address", "message": "the licence font cannot print '𠀀'"}]
    assert _count(registry, Licence) == 0


def test_explicit_validity_types_need_an_end_date(http: Any, registry: Runtime) -> None:
    org, body = EXAMPLES["建筑工程施工许可证"]
    body = {key: value for key, value in body.items() if key != "valid_until"}
    response = http.post("/licences", json=body, headers=issuer_headers(registry, org))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "valid_until"


def test_years_validity_ends_the_day_before_the_anniversary(http: Any, registry: Runtime,
                                                            market: dict[str, str]) -> None:
    licence = http.post("/licences", json=food_request(valid_from="2026-03-01"),
                        headers=market).json()
    assert (licence["valid_from"], licence["valid_until"]) == ("2026-03-01", "2031-02-28")


def test_printed_number_follows_the_pattern_or_is_given(http: Any, registry: Runtime,
                                                        market: dict[str, str]) -> None:
    patterned = http.post("/licences", json=food_request(), headers=market).json()
    serial = patterned["identifier"].split(".")[7]
    assert patterned["printed_number"] == f"JY1110105{serial}"
    given = http.post("/licences", json=food_request(printed_number="JY11101050000042"),
                      headers=market).json()
    assert given["printed_number"] == "JY11101050000042"


def test_a_retry_with_the_same_idempotency_key_returns_the_first_result(
    http: Any, registry: Runtime, market: dict[str, str]
) -> None:
    headers = {**market, "Idempotency-Key": "case-2026-0001"}
    first = http.post("/licences", json=food_request(), headers=headers)
    retry = http.post("/licences", json=food_request(), headers=headers)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["identifier"] == first.json()["identifier"]
    assert _count(registry, Licence) == 1


def test_the_same_idempotency_key_with_another_body_is_a_conflict(
    http: Any, registry: Runtime, market: dict[str, str]
) -> None:
    headers = {**market, "Idempotency-Key": "case-2026-0002"}
    assert http.post("/licences", json=food_request(), headers=headers).status_code == 201
    other = http.post("/licences", json=food_request(holder_name="另一家公司"), headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency.conflict"
    assert _count(registry, Licence) == 1


def test_idempotency_keys_are_per_client(http: Any, registry: Runtime,
                                         market: dict[str, str]) -> None:
    colleague = issuer_headers(registry, MARKET, name="another-market-system")
    key = {"Idempotency-Key": "shared-key"}
    a = http.post("/licences", json=food_request(), headers={**market, **key}).json()
    b = http.post("/licences", json=food_request(), headers={**colleague, **key}).json()
    assert a["identifier"] != b["identifier"]


def _nothing_issued(registry: Runtime, audit_before: int) -> None:
    assert _count(registry, Licence) == 0
    assert _count(registry, LicenceEvent) == 0
    assert _count(registry, SealUse) == 0
    assert _count(registry, AuditEntry) == audit_before
    assert list(registry.file_store.iter_older_than(-60)) == []


def _unreachable_tsa(registry: Runtime) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registry.settings = registry.settings.model_copy(
        update={"tsa_url": f"http://127.0.0.1:{port}/tsa"})


def test_a_tsa_failure_while_sealing_leaves_no_licence_history_or_audit(
    http: Any, registry: Runtime, market: dict[str, str]
) -> None:
    _unreachable_tsa(registry)
    audit_before = _count(registry, AuditEntry)
    response = http.post("/licences", json=food_request(), headers=market)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    _nothing_issued(registry, audit_before)


def test_a_retry_after_a_failed_sealing_issues_under_the_same_idempotency_key(
    http: Any, registry: Runtime, market: dict[str, str]
) -> None:
    working = registry.settings
    _unreachable_tsa(registry)
    headers = {**market, "Idempotency-Key": "case-2026-0003"}
    assert http.post("/licences", json=food_request(), headers=headers).status_code == 503
    registry.settings = working
    registry.__dict__.pop("sealer", None)  # its seal signers hold the broken TSA client
    retry = http.post("/licences", json=food_request(), headers=headers)
    assert retry.status_code == 201, retry.text
    assert _count(registry, Licence) == 1


def test_a_suspended_issuer_seal_leaves_no_licence_history_or_audit(
    http: Any, registry: Runtime, market: dict[str, str]
) -> None:
    with registry.unit_of_work() as services:
        seal = services.seals.search(org_credit_code=MARKET)[0]
        services.seals.suspend(seal.id, reason="印章检查", at=utcnow(), actor="test")
    audit_before = _count(registry, AuditEntry)
    response = http.post("/licences", json=food_request(), headers=market)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "licence.no_issuer_seal"
    _nothing_issued(registry, audit_before)


def _issue_many(registry: Runtime, count: int, key_prefix: str | None = None
                ) -> list[str]:
    with registry.unit_of_work(readonly=True) as services:
        client_id = services.clients.list()[-1].id
    party = IssuingParty(org_code=MARKET, client_id=client_id, actor="test")
    body = food_request()
    request = IssueRequest(type_code=FOOD_TYPE, holder_kind="credit-code",
                           holder_code=body["holder_code"], holder_name=body["holder_name"],
                           fields=body["fields"])
    results: list[str] = []
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for n in range(count):
                key = f"{key_prefix}" if key_prefix else None
                with registry.unit_of_work() as services:
                    outcome = services.issuance.issue(request, party, at=utcnow(),
                                                      idempotency_key=key)
                    results.append(outcome.licence.identifier)
                del n
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_concurrent_issuance_never_repeats_a_serial(registry: Runtime,
                                                    market: dict[str, str]) -> None:
    identifiers = _issue_many(registry, 6)
    serials = [LicenceIdentifier.parse(i).serial for i in identifiers]
    assert len(serials) == 24
    assert len(set(serials)) == 24
    assert _count(registry, Licence) == 24


def test_concurrent_retries_with_one_key_make_one_licence(registry: Runtime,
                                                          market: dict[str, str]) -> None:
    identifiers = _issue_many(registry, 1, key_prefix="same-key-for-all")
    assert len(set(identifiers)) == 1
    assert _count(registry, Licence) == 1


CRASH_SCRIPT = r"""
import os, sys
from zhengyin.api.runtime import Runtime
from zhengyin.api.settings import Settings
from zhengyin.api.settings import Settings
from zhengyin.registry.filestore import LocalFileStore
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.core.clock import utcnow

original_put = LocalFileStore.put

def put_then_crash(self, data):
    digest = original_put(self, data)
    print(digest, flush=True)
    os._exit(9)  # a hard crash: no rollback handler, no cleanup runs

LocalFileStore.put = put_then_crash
runtime = Runtime(Settings(data_dir=sys.argv[1], database_url=sys.argv[2], kek=sys.argv[3]))
with runtime.unit_of_work() as services:
    services.issuance.issue(IssueRequest(**eval(sys.argv[4])),
                            IssuingParty(org_code=sys.argv[5], client_id=None, actor="crash"),
                            at=utcnow())
"""


def _zhengyin(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``zhengyin`` command against the test's data directory and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_DATA_DIR=str(settings.data_dir),
               ZHENGYIN_DATABASE_URL=settings.effective_database_url,
               ZHENGYIN_KEK=settings.kek.get_secret_value() if settings.kek else "",
               ZHENGYIN_LOG_JSON="false", COLUMNS="200")
    return subprocess.run([str(Path(sys.executable).with_name("zhengyin")), *args], env=env,
                          cwd=settings.data_dir, capture_output=True, text=True, timeout=120,
                          check=False)


def _sweep(settings: Settings, *args: str) -> str:
    swept = _zhengyin(settings, "store", "sweep", *args)
    assert swept.returncode == 0, swept.stderr
    return swept.stdout


def test_a_crash_between_file_write_and_commit_leaves_only_a_sweepable_file(
    http: Any, registry: Runtime, market: dict[str, str]
) -> None:
    settings = registry.settings
    issued = http.post("/licences", json=food_request(holder_name="先发的公司"), headers=market)
    assert issued.status_code == 201, issued.text
    kept = issued.json()["pdf_sha256"]
    body = food_request()
    request = {key: body[key] for key in ("type_code", "holder_kind", "holder_code",
                                          "holder_name", "fields")}
    audit_before = _count(registry, AuditEntry)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(settings.data_dir),
         settings.effective_database_url, settings.kek.get_secret_value() if settings.kek
         else "", repr(request), MARKET],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert crashed.returncode == 9, crashed.stderr
    orphan = crashed.stdout.strip()
    store = registry.file_store
    assert store.exists(orphan) and orphan != kept
    assert _count(registry, Licence) == 1
    assert _count(registry, LicenceEvent) == 1
    assert _count(registry, AuditEntry) == audit_before

    report = _sweep(settings, "--grace", "0")
    assert "examined 2 files, removed 1" in report and orphan in report
    assert not store.exists(orphan)
    assert store.exists(kept)
    assert http.get(f"/licences/{issued.json()['identifier']}/pdf",
                    headers=market).status_code == 200


def test_sweep_keeps_the_files_of_every_licence_version(http: Any, registry: Runtime,
                                                        market: dict[str, str]) -> None:
    first = http.post("/licences", json=food_request(), headers=market).json()
    fields = {**food_request()["fields"], "premises": "北京市朝阳区建国路99号"}
    second = http.post(f"/licences/{first['identifier']}/change", headers=market,
                       json={"reason": "经营场所变更", "fields": fields})
    assert second.status_code == 201, second.text
    unreferenced = registry.file_store.put(b"%PDF-1.7 left by a failed issuance")

    report = _sweep(registry.settings, "--grace", "0")
    assert "examined 3 files, removed 1" in report
    assert not registry.file_store.exists(unreferenced)
    assert registry.file_store.exists(first["pdf_sha256"])
    assert registry.file_store.exists(second.json()["pdf_sha256"])


def test_sweep_spares_unreferenced_files_younger_than_the_grace_period(
    registry: Runtime
) -> None:
    in_flight = registry.file_store.put(b"%PDF-1.7 of a transaction still open")
    report = _sweep(registry.settings)  # default grace: an hour
    assert "removed 0" in report
    assert registry.file_store.exists(in_flight)


def test_a_dry_run_sweep_lists_but_removes_nothing(registry: Runtime) -> None:
    unreferenced = registry.file_store.put(b"%PDF-1.7 left by a failed issuance")
    report = _sweep(registry.settings, "--grace", "0", "--dry-run")
    assert "would remove 1" in report and unreferenced in report
    assert registry.file_store.exists(unreferenced)
