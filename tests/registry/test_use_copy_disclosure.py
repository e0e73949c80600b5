"""A use-copy (加注件) shows and carries only what its use disclosed, and stays tied to its
licence: verifying the copy reports the licence's status now. Through the HTTP API."""

from __future__ import annotations

import io
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pikepdf
import pypdfium2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from zhengyin.api.app import create_app
from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditEntry, ClientRole
from zhengyin.registry.catalogue import TypeDefinition, example_definitions, example_service_items
from zhengyin.registry.holders import HolderKind
from zhengyin.registry.issuance import verify_url
from zhengyin.registry.licences import Reader
from zhengyin.registry.models import LicenceUse
from zhengyin.registry.platform import platform_seal
from zhengyin.registry.sealing import REDACTED, licence_view
from zhengyin.registry.usecopy import UseCopyMarks, use_copy_document
from zhengyin.signing.models import SealType, SignatureLevel
from zhengyin.signing.placement import BoxPlacement, Placement
from zhengyin.signing.seals import SealRequest
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampRequest

from ..signing.fixtures import StampingEnv, make_stamping_env
from ..support import bearer
from .conftest import BIRTH_TYPE, BUSINESS_TYPE, HOSPITAL, MARKET, seal_png

COMPANY = "91110000600037341L"
MOTHER = "11010519491231002X"
FOOD_ITEM = "11110105-FOOD-0001"  # the business licence: name, entity_type, legal rep., address
BIRTH_ITEM = "11110105-HUKOU-0001"
WHOLE_ITEM = "11110105-FOOD-0009"
SCOPE_ITEM = "11110105-SCOPE-0001"  # every field of the business licence
BIRTH_FIELDS = ["newborn_name", "institution"]


def _items() -> list[dict[str, Any]]:
    food = next(item for item in example_service_items() if item["code"] == FOOD_ITEM)
    return [
        *example_service_items(),
        {"code": BIRTH_ITEM, "name": "新生儿入户", "materials": [
            {"id": "birth", "name": "出生医学证明",
             "types": [{"type_code": BIRTH_TYPE, "fields": BIRTH_FIELDS}]}]},
        {**food, "code": WHOLE_ITEM, "name": "食品经营许可（新办，收取原件）",
         "use_copy_original": True},
        {"code": SCOPE_ITEM, "name": "经营范围核验", "materials": [
            {"id": "business", "name": "营业执照", "types": [
                {"type_code": BUSINESS_TYPE, "fields": [
                    "name", "entity_type", "legal_representative", "registered_capital",
                    "established", "address", "business_scope"]}]}]},
    ]


BUSINESS = {
    "type_code": BUSINESS_TYPE, "holder_kind": "credit-code", "holder_code": COMPANY,
    "holder_name": "北京某某科技有限公司",
    "fields": {"name": "北京某某科技有限公司", "entity_type": "有限责任公司",
               "legal_representative": "李四", "registered_capital": "柒佰捌拾玖万元整",
               "established": "2015-06-01", "address": "北京市朝阳区望京街10号",
               "business_scope": "量子纠缠通信设备研发；蜂蜜饮料零售"},
}
BUSINESS_SHOWN = ["北京某某科技有限公司", "有限责任公司", "李四", "北京市朝阳区望京街10号"]
BUSINESS_HIDDEN = ["柒佰捌拾玖万元整", "2015年06月01日", "量子纠缠通信设备研发；蜂蜜饮料零售"]

BIRTH = {
    "type_code": BIRTH_TYPE, "holder_kind": "citizen-id", "holder_code": MOTHER,
    "holder_name": "欧阳秀琴",
    "fields": {"newborn_name": "欧阳小明", "sex": "女", "born_at": "2025-03-01 08:30",
               "birthplace": "北京市朝阳区", "gestational_weeks": 39, "birth_weight_g": 3275,
               "birth_length_cm": 51, "mother_name": "欧阳秀琴", "father_name": "司马懿德",
               "institution": "北京市朝阳区妇幼保健院"},
}
BIRTH_SHOWN = ["欧阳小明", "北京市朝阳区妇幼保健院"]
BIRTH_HIDDEN = ["女", "2025-03-01 08:30", "3275", "司马懿德", "欧阳秀琴"]


@pytest.fixture(scope="module")
def live(database_url: str, kek_text: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampingEnv]:
    """A service with the example types, the items above and the issuers' seals."""
    for env in make_stamping_env(database_url, kek_text, tmp_path_factory,
                                 verify_in_process=True):
        with env.runtime.unit_of_work() as services:
            for document in example_definitions():
                services.catalogue.define(TypeDefinition.from_json(document), at=utcnow(),
                                          actor="test")
            for item in _items():
                services.service_items.define(item, at=utcnow(), actor="test")
            for code, name, kind in ((MARKET, "北京市朝阳区市场监督管理局", SealType.APPROVAL),
                                     (HOSPITAL, "北京市朝阳区妇幼保健院", SealType.OFFICIAL)):
                services.seals.create(SealRequest(org_name=name, credit_code=code,
                                                  seal_type=kind, image_png=seal_png()),
                                      at=utcnow(), actor="test")
        yield env


@pytest.fixture(scope="module")
def client(live: StampingEnv) -> Iterator[TestClient]:
    """An HTTP client of the live runtime's app."""
    with TestClient(create_app(runtime=live.runtime)) as http:
        yield http


def _client_headers(live: StampingEnv, role: ClientRole, org: str | None = None
                    ) -> dict[str, str]:
    with live.runtime.unit_of_work() as services:
        issued = services.clients.add(name=f"{role.value}-{datetime.now().timestamp()}",
                                      role=role, org_credit_code=org, at=utcnow(),
                                      actor="test")
    return bearer(issued.credential)


@dataclass
class Copied:
    """A licence, the check that disclosed it and a use-copy made of it."""

    identifier: str
    check_id: str
    issuer: dict[str, str]
    intake: dict[str, str]
    pdf: bytes


def _checked(client: TestClient, live: StampingEnv, licence: dict[str, Any], item: str, *,
             purpose: str = "食品经营许可新办审查") -> Copied:
    issuer = _client_headers(live, ClientRole.ISSUER,
                             HOSPITAL if licence["type_code"] == BIRTH_TYPE else MARKET)
    intake = _client_headers(live, ClientRole.INTAKE)
    issued = client.post("/licences", json=licence, headers=issuer)
    assert issued.status_code == 201, issued.text
    kind = HolderKind(licence["holder_kind"])
    with live.runtime.unit_of_work() as services:
        holder = bearer(live.runtime.holder_tokens.mint(services, licence["holder_code"],
                                                        kind, at=utcnow()))
    consent = client.post("/holder/consents", json={"item_code": item}, headers=holder)
    assert consent.status_code == 201, consent.text
    check = client.post("/checks", headers=intake, json={
        "holder_kind": kind.value, "holder_code": licence["holder_code"], "item_code": item,
        "case_number": "CY-2026-88", "purpose": purpose, "consent_id": consent.json()["id"]})
    assert check.status_code == 200, check.text
    identifier = issued.json()["identifier"]
    assert identifier in [m["identifier"] for m in check.json()["materials"]]
    return Copied(identifier, check.json()["check_id"], issuer, intake, b"")


def _copy(client: TestClient, copied: Copied) -> Copied:
    response = client.post(f"/checks/{copied.check_id}/use-copies",
                           json={"identifier": copied.identifier}, headers=copied.intake)
    assert response.status_code == 200, response.text
    copied.pdf = response.content
    return copied


def _text(pdf: bytes, tmp_path: Path) -> str:
    """pdftotext's and pdfium's text of every page, one after the other."""
    path = tmp_path / "copy.pdf"
    path.write_bytes(pdf)
    poppler = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                             check=True).stdout
    document = pypdfium2.PdfDocument(pdf)
    try:
        pdfium = "".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
    return poppler + "\n" + pdfium


def _streams(pdf: bytes) -> list[bytes]:
    """Every stream of the file, decoded where its filters allow, and the raw file."""
    found = [pdf]
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for item in document.objects:
            if isinstance(item, pikepdf.Stream):
                try:
                    found.append(item.read_bytes())
                except pikepdf.PdfError:
                    found.append(item.read_raw_bytes())
    return found


def _mapped_characters(pdf: bytes) -> set[str]:
    """Every character a /ToUnicode map of the copy's fonts names."""
    chars: set[str] = set()
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for item in document.objects:
            if isinstance(item, pikepdf.Dictionary) and "/ToUnicode" in item:
                mapping = False
                for line in item.ToUnicode.read_bytes().decode("ascii").splitlines():
                    if line.endswith(("beginbfchar", "endbfchar")):
                        mapping = line.endswith("beginbfchar")
                    elif mapping:
                        target = line.split()[1]
                        chars.add(bytes.fromhex(target[1:-1]).decode("utf-16-be"))
    return chars


def _assert_nowhere(pdf: bytes, text: str, value: str) -> None:
    assert value not in text, f"{value!r} is in the copy's text"
    if len(value) < 2:
        return  # one character's bytes turn up in binary data by chance: see /ToUnicode
    encodings = [value.encode("utf-8"), value.encode("utf-16-be"),
                 value.encode("utf-16-be").hex().encode(),
                 value.encode("utf-16-be").hex().upper().encode()]
    for stream in _streams(pdf):
        for encoded in encodings:
            assert encoded not in stream, f"{value!r} is in a stream of the copy"


@pytest.mark.parametrize(("licence", "item", "shown", "hidden"), [
    (BUSINESS, FOOD_ITEM, BUSINESS_SHOWN, BUSINESS_HIDDEN),
    (BIRTH, BIRTH_ITEM, BIRTH_SHOWN, BIRTH_HIDDEN),
], ids=["business-scope-capital-date", "sex-birth-time-parents"])
def test_a_use_copy_shows_the_disclosed_fields_and_no_other_value_is_in_the_file(
    client: TestClient, live: StampingEnv, tmp_path: Path, licence: dict[str, Any],
    item: str, shown: list[str], hidden: list[str]
) -> None:
    copied = _copy(client, _checked(client, live, licence, item))
    text = _text(copied.pdf, tmp_path)
    for value in shown:
        assert value in text
    assert REDACTED in text
    for value in hidden:
        _assert_nowhere(copied.pdf, text, value)
    # The fonts map no character the page does not show: no redacted glyph is embedded.
    assert _mapped_characters(copied.pdf) <= set(text)


def test_the_use_record_and_the_audit_entry_name_the_fields_the_copy_shows(
    client: TestClient, live: StampingEnv
) -> None:
    copied = _copy(client, _checked(client, live, BIRTH, BIRTH_ITEM))
    with live.runtime.unit_of_work(readonly=True) as services:
        use = services.session.scalar(select(LicenceUse)
                                      .where(LicenceUse.check_id == copied.check_id))
        entry = services.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "licence.use_copy_made")
            .where(AuditEntry.object_id == copied.identifier)).one()
    assert use is not None and sorted(use.fields) == sorted(BIRTH_FIELDS)
    assert sorted(entry.details["fields"]) == sorted(BIRTH_FIELDS)
    assert entry.details["original_attached"] is False


def _embedded_files(pdf: bytes) -> list[bytes]:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        attached = [spec.get_file().read_bytes() for spec in document.attachments.values()]
        streams = [item.read_bytes() for item in document.objects
                   if isinstance(item, pikepdf.Stream) and item.get("/Type") == "/EmbeddedFile"]
    return attached + streams


def test_a_use_copy_attaches_no_original_by_default(client: TestClient,
                                                    live: StampingEnv) -> None:
    copied = _copy(client, _checked(client, live, BUSINESS, FOOD_ITEM))
    assert _embedded_files(copied.pdf) == []


def test_a_use_copy_attaches_the_original_where_the_item_allows_it(
    client: TestClient, live: StampingEnv
) -> None:
    items = client.get("/service-items", headers=_client_headers(live, ClientRole.INTAKE))
    assert {i["code"]: i["use_copy_original"] for i in items.json()}[WHOLE_ITEM] is True
    copied = _copy(client, _checked(client, live, BUSINESS, WHOLE_ITEM))
    original = client.get(f"/licences/{copied.identifier}/pdf", headers=copied.issuer).content
    attached = _embedded_files(copied.pdf)
    assert attached and set(attached) == {original}


def _verify(client: TestClient, live: StampingEnv, pdf: bytes) -> dict[str, Any]:
    response = client.post("/verifications", files={"file": ("copy.pdf", pdf,
                                                             "application/pdf")},
                           headers=_client_headers(live, ClientRole.VERIFIER))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _codes(report: dict[str, Any]) -> set[str]:
    return {check["reason"]["code"] for signature in report["signatures"]
            for check in signature["checks"]}


def test_verifying_a_use_copy_reports_its_licence_and_a_later_revocation(
    client: TestClient, live: StampingEnv
) -> None:
    copied = _copy(client, _checked(client, live, BUSINESS, FOOD_ITEM))
    report = _verify(client, live, copied.pdf)
    assert report["verdict"]["indication"] == "TOTAL-PASSED", report["verdict"]
    assert report["licence"]["identifier"] == copied.identifier
    assert report["licence"]["use_copy"] is True
    assert "licence.use_copy" in _codes(report)
    page = client.post("/verify", files={"file": ("copy.pdf", copied.pdf, "application/pdf")})
    assert page.status_code == 200 and 'id="use-copy"' in page.text
    revoked = client.post(f"/licences/{copied.identifier}/revoke", headers=copied.issuer, json={
        "kind": "revoked", "reason_code": "R-1", "reason": "吊销", "legal_basis": "某法第一条"})
    assert revoked.status_code == 200, revoked.text
    after = _verify(client, live, copied.pdf)
    assert after["verdict"]["indication"] == "TOTAL-FAILED"
    assert after["verdict"]["sub_indication"] == "REVOKED"
    assert after["licence"]["status_now"] == "revoked"
    assert "licence.revoked" in _codes(after)


def test_a_platform_sealed_copy_the_registry_did_not_record_is_not_a_use_copy(
    client: TestClient, live: StampingEnv
) -> None:
    """Anyone who can make the platform seal a document cannot make it stand for a licence:
    only a copy recorded by its signed digest does."""
    copied = _copy(client, _checked(client, live, BUSINESS, FOOD_ITEM))
    runtime = live.runtime
    with runtime.unit_of_work() as services:
        licence = services.licences.get(copied.identifier, Reader(everything=True))
        licence_type = services.licences.licence_type(licence)
        view = licence_view(licence, licence_type, disclosed=["name"],
                            verify_url=verify_url(live.base_url, licence.identifier))
        assert licence.pdf_sha256 is not None
        document = use_copy_document(
            view, UseCopyMarks("伪造", "X-1", "某系统", utcnow()),
            renderer=runtime.sealer.renderer, original=runtime.file_store.get(licence.pdf_sha256),
            attach_original=False, attachment_name="x.pdf")
        platform = platform_seal(services.session, services.seals,
                                 org_name=runtime.settings.platform_name,
                                 credit_code=runtime.settings.platform_credit_code,
                                 at=utcnow(), create=True)
        forged = services.stamping.stamp(StampRequest(
            platform.id, StampOptions(placement=Placement(visible=BoxPlacement(
                page=1, box=(440.0, 40.0, 540.0, 140.0))), level=SignatureLevel.B_T,
                certify=True), "X-1", "伪造"), document, client_id=None, actor="test",
            at=utcnow()).result.pdf
    report = _verify(client, live, forged)
    assert report["verdict"]["indication"] == "TOTAL-FAILED"
    assert "licence.not_issued_file" in _codes(report)


def test_no_use_copy_is_made_of_a_licence_no_longer_valid(client: TestClient,
                                                          live: StampingEnv) -> None:
    copied = _checked(client, live, BUSINESS, FOOD_ITEM)
    suspended = client.post(f"/licences/{copied.identifier}/suspend", headers=copied.issuer,
                            json={"reason": "整改", "legal_basis": "某法第二条"})
    assert suspended.status_code == 200, suspended.text
    response = client.post(f"/checks/{copied.check_id}/use-copies",
                           json={"identifier": copied.identifier}, headers=copied.intake)
    assert response.status_code == 409
    assert response.json()["code"] == "use_copy.licence_not_valid"


def test_a_check_with_the_longest_purpose_gets_its_use_copy(client: TestClient,
                                                            live: StampingEnv) -> None:
    copied = _copy(client, _checked(client, live, BUSINESS, FOOD_ITEM, purpose="审" * 200))
    assert copied.pdf.startswith(b"%PDF")


def test_another_clients_check_has_no_use_copy(client: TestClient, live: StampingEnv) -> None:
    copied = _checked(client, live, BUSINESS, FOOD_ITEM)
    other = _client_headers(live, ClientRole.INTAKE)
    response = client.post(f"/checks/{copied.check_id}/use-copies",
                           json={"identifier": copied.identifier}, headers=other)
    assert response.status_code == 404
    assert response.json()["code"] == "use_copy.not_found"


def test_a_licence_over_two_pages_is_copied_whole(client: TestClient, live: StampingEnv,
                                                  tmp_path: Path) -> None:
    scope = "软件开发；" * 199 + "研发"
    fields = {**cast(dict[str, Any], BUSINESS["fields"])}
    fields.update(name="某" * 100, address="路" * 200, business_scope=scope)
    longest = {**BUSINESS, "holder_code": "91110105MA00000012", "fields": fields}
    copied = _copy(client, _checked(client, live, longest, SCOPE_ITEM))
    path = tmp_path / "copy.pdf"
    path.write_bytes(copied.pdf)

    pages = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                           check=True).stdout
    assert "Pages:           2" in pages
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout.replace(" ", "").replace("\n", "")
    assert text.count("软件开发") == 199  # nothing disclosed is lost between the pages
    assert text.count("路") >= 200


def test_compressed_streams_are_searched_too() -> None:
    """The stream search above reads decoded streams: a value inside a compressed stream
    is found (so the assertions on the copies can fail)."""
    document = pikepdf.new()
    document.pages.append(pikepdf.Page(pikepdf.Dictionary(Type=pikepdf.Name.Page)))
    document.pages[0].obj.Contents = pikepdf.Stream(
        document, zlib.compress("量子".encode("utf-16-be")), Filter=pikepdf.Name.FlateDecode)
    output = io.BytesIO()
    document.save(output)
    with pytest.raises(AssertionError, match="stream"):
        _assert_nowhere(output.getvalue(), "", "量子")
