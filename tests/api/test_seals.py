"""The seal registry and stamping over HTTP: problem+json for every refusal.

One stamping environment (PKI, live OCSP server, NSS db) serves the module; the app is
driven in-process without its lifespan (the module owns the runtime).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from asn1crypto import crl, ocsp, x509
from PIL import Image

from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.trust.models import RevocationReason

from ..signing.checks import assert_pyhanko_passes, pdfsig_check
from ..signing.documents import ANCHOR, approval_pdf, encrypted_pdf, not_a_pdf
from ..signing.fixtures import StampingEnv, stamping
from ..signing.test_stamping import check_everywhere
from ..support import ORG_CODE, ORG_NAME, bearer

__all__ = ["stamping"]

ANCHOR_OPTIONS = json.dumps({"placement": {"kind": "anchor", "text": ANCHOR}})
FOREIGN_ORG_CODE = "91110000600037341L"  # another organisation (STANDARDS §3 example)


@pytest.fixture(scope="module")
def api(stamping: StampingEnv) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from zhengyin.api.app import create_app

    yield TestClient(create_app(runtime=stamping.runtime), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def creds(stamping: StampingEnv) -> dict[str, dict[str, str]]:
    result = {}
    with stamping.runtime.unit_of_work() as services:
        for name, role, org in (("admin", ClientRole.ADMIN, None),
                                ("stamper", ClientRole.STAMPER, ORG_CODE),
                                ("other", ClientRole.STAMPER, ORG_CODE),
                                ("issuer", ClientRole.ISSUER, ORG_CODE),
                                ("foreign", ClientRole.STAMPER, FOREIGN_ORG_CODE)):
            issued = services.clients.add(
                name=f"api-{name}", role=role, at=utcnow(), actor="test",
                org_credit_code=org)
            result[name] = {"header": bearer(issued.credential)["Authorization"],
                            "id": issued.client.id}
    return result


def h(creds: dict[str, dict[str, str]], who: str) -> dict[str, str]:
    return {"Authorization": creds[who]["header"]}


@pytest.fixture(scope="module")
def seal(api: Any, creds: dict[str, dict[str, str]]) -> dict[str, Any]:
    created = api.post("/seals", headers=h(creds, "admin"), json={
        "org_name": ORG_NAME, "credit_code": ORG_CODE, "seal_type": "approval"})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    granted = api.post(f"/seals/{body['id']}/clients", headers=h(creds, "admin"),
                       json={"client_id": creds["stamper"]["id"]})
    assert granted.status_code == 200, granted.text
    return body


def _stamp(api: Any, creds: dict[str, dict[str, str]], seal_id: str, pdf: bytes,
           who: str = "stamper", options: str = ANCHOR_OPTIONS, **form: str) -> Any:
    data = {"case_number": "审批〔2025〕7号", "purpose": "准予行政许可", "options": options}
    data.update(form)
    return api.post(f"/seals/{seal_id}/stamp", headers=h(creds, who), data=data,
                    files={"file": ("决定书.pdf", pdf, "application/pdf")})


def _ocsp_status(api: Any, serial_hex: str) -> tuple[str, str | None]:
    """(good | revoked | unknown, revocation reason) of a certificate, asked over /ocsp."""
    certificate = api.get(f"/pki/certificates/{serial_hex}")
    issuer = api.get("/pki/ca/issuing.crt")
    assert certificate.status_code == issuer.status_code == 200
    cert = x509.Certificate.load(certificate.content)
    ca = x509.Certificate.load(issuer.content)
    assert cert.issuer == ca.subject
    request = ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": {
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": hashlib.sha1(ca.subject.dump()).digest(),
        "issuer_key_hash": ca.public_key.sha1,
        "serial_number": cert.serial_number,
    }}]}})
    response = api.post("/ocsp", content=request.dump(),
                        headers={"Content-Type": "application/ocsp-request"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    parsed = ocsp.OCSPResponse.load(response.content)
    assert parsed["response_status"].native == "successful"
    single = parsed.basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_id"]["serial_number"].native == cert.serial_number
    status = single["cert_status"]
    reason = status.chosen["revocation_reason"].native if status.name == "revoked" else None
    return status.name, reason


def _crl_serials(api: Any) -> set[int]:
    response = api.get("/pki/crl/issuing.crl")
    assert response.status_code == 200
    revoked = crl.CertificateList.load(response.content)["tbs_cert_list"]["revoked_certificates"]
    return {int(entry["user_certificate"].native) for entry in revoked}


def _uses(api: Any, creds: dict[str, dict[str, str]], seal_id: str) -> int:
    response = api.get(f"/seals/{seal_id}/uses", headers=h(creds, "admin"),
                       params={"limit": 1000})
    assert response.status_code == 200, response.text
    return len(response.json()["uses"])


# ----------------------------------------------------------------------------- registry


def test_an_administrator_creates_and_shows_a_seal(api: Any, creds: dict[str, dict[str, str]],
                                                   seal: dict[str, Any]) -> None:
    assert seal["seal_code"].isdigit() and len(seal["seal_code"]) == 13
    assert seal["status"] == "active"
    shown = api.get(f"/seals/{seal['id']}", headers=h(creds, "admin")).json()
    assert shown["authorised_clients"] == [creds["stamper"]["id"]]
    image = api.get(seal["image_url"], headers=h(creds, "stamper"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(image.content)) as png:
        assert png.mode == "RGBA"
    listed = api.get("/seals", headers=h(creds, "stamper")).json()
    assert [item["id"] for item in listed] == [seal["id"]]
    assert listed[0]["authorised_clients"] is None
    assert api.get(f"/seals/{seal['id']}", headers=h(creds, "other")).status_code == 404


def test_a_credit_code_with_a_wrong_check_character_is_refused(
        api: Any, creds: dict[str, dict[str, str]]) -> None:
    wrong = ORG_CODE[:-1] + ("X" if ORG_CODE[-1] != "X" else "Y")
    response = api.post("/seals", headers=h(creds, "admin"), json={
        "org_name": ORG_NAME, "credit_code": wrong, "seal_type": "approval"})

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "codes.invalid_credit_code"
    assert "GB 32100" in response.json()["detail"]


def test_a_client_is_not_authorised_on_another_organisations_seal(
        api: Any, creds: dict[str, dict[str, str]], seal: dict[str, Any]) -> None:
    response = api.post(f"/seals/{seal['id']}/clients", headers=h(creds, "admin"),
                        json={"client_id": creds["foreign"]["id"]})

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "seal.other_organisation"
    shown = api.get(f"/seals/{seal['id']}", headers=h(creds, "admin")).json()
    assert creds["foreign"]["id"] not in shown["authorised_clients"]


def test_a_grant_across_organisations_made_before_the_rule_stamps_nothing(
        api: Any, creds: dict[str, dict[str, str]], seal: dict[str, Any],
        stamping: StampingEnv) -> None:
    from zhengyin.signing.models import SealAuthorisation

    # A grant the old code allowed, written as it stored it.
    with stamping.runtime.unit_of_work() as services:
        services.session.add(SealAuthorisation(seal_id=seal["id"],
                                               client_id=creds["foreign"]["id"],
                                               granted_at=utcnow(), granted_by="old code"))
    before = _uses(api, creds, seal["id"])

    response = _stamp(api, creds, seal["id"], approval_pdf(), who="foreign")

    assert (response.status_code, response.json()["code"]) == (404, "seal.not_found")
    assert api.get("/seals", headers=h(creds, "foreign")).json() == []
    assert _uses(api, creds, seal["id"]) == before


SEAL_ROUTES = [
    ("get", "/seals/{id}", {}),
    ("get", "/seals/{id}/image.png", {}),
    ("get", "/seals/{id}/uses", {}),
    ("get", "/seals/{id}/uses.csv", {}),
    ("post", "/seals/{id}/stamp", {"files": {"file": ("a.pdf", b"%PDF-1.7", "application/pdf")},
                                   "data": {"case_number": "案", "purpose": "用途",
                                            "options": ANCHOR_OPTIONS}}),
    ("post", "/seals/{id}/stamp-jobs", {
        "files": {"files": ("a.pdf", b"%PDF-1.7", "application/pdf")},
        "data": {"case_number": "案", "purpose": "用途", "options": ANCHOR_OPTIONS}}),
]


@pytest.mark.parametrize(("method", "path", "body"), SEAL_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in SEAL_ROUTES])
def test_a_seal_the_caller_may_not_see_answers_like_a_missing_one(
        api: Any, creds: dict[str, dict[str, str]], seal: dict[str, Any], method: str,
        path: str, body: dict[str, Any]) -> None:
    missing = "0" * 32
    # An issuer of the seal's organisation reads seals and uses and stamps, not granted this one.
    answers = []
    for seal_id in (seal["id"], missing):
        response = getattr(api, method)(path.format(id=seal_id), headers=h(creds, "issuer"),
                                        **body)
        problem = response.json()
        answers.append((response.status_code, problem["code"],
                        problem["detail"].replace(seal_id, "ID"), problem.get("hint")))

    assert answers[0] == answers[1]
    assert answers[0][:2] == (404, "seal.not_found")


def test_a_client_reads_the_uses_it_made_after_its_grant_is_withdrawn(
        api: Any, creds: dict[str, dict[str, str]], stamping: StampingEnv) -> None:
    admin = h(creds, "admin")
    created = api.post("/seals", headers=admin, json={
        "org_name": ORG_NAME, "credit_code": ORG_CODE, "seal_type": "finance"}).json()
    api.post(f"/seals/{created['id']}/clients", headers=admin,
             json={"client_id": creds["issuer"]["id"]})
    assert _stamp(api, creds, created["id"], approval_pdf(1), who="issuer").status_code == 200
    api.delete(f"/seals/{created['id']}/clients/{creds['issuer']['id']}", headers=admin)

    uses = api.get(f"/seals/{created['id']}/uses", headers=h(creds, "issuer"))
    assert uses.status_code == 200, uses.text
    assert len(uses.json()["uses"]) == 1
    refused = _stamp(api, creds, created["id"], approval_pdf(1), who="issuer")
    assert (refused.status_code, refused.json()["code"]) == (404, "seal.not_found")


def _png(mode: str) -> str:
    image = Image.new(mode, (200, 200), (200, 0, 0, 0) if mode == "RGBA" else (200, 0, 0))
    if mode == "RGBA":
        image.putpixel((10, 10), (200, 0, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(("image", "status"), [
    (_png("RGBA"), 201),
    (_png("RGB"), 422),
    (base64.b64encode(b"GIF89a" + b"\0" * 64).decode(), 422),
    ("not base64!", 422),
], ids=["transparent-png", "opaque-png", "not-a-png", "bad-base64"])
def test_an_uploaded_handwriting_image_is_checked(api: Any, creds: dict[str, dict[str, str]],
                                                  image: str, status: int) -> None:
    response = api.post("/seals", headers=h(creds, "admin"), json={
        "org_name": ORG_NAME, "credit_code": ORG_CODE, "seal_type": "personal",
        "holder_name": "欧阳修文", "holder_id_number": "11010519491231002X",
        "image_png_base64": image})
    assert response.status_code == status, response.text
    if status == 422:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "image.invalid"


@pytest.mark.parametrize(("holder", "face"), [("李四", "李四印"), ("李建国", "李建国印"),
                                             ("欧阳修文", "欧阳修文")])
def test_a_legal_representatives_name_seal_shows_its_name(
        api: Any, creds: dict[str, dict[str, str]], holder: str, face: str) -> None:
    from zhengyin.signing.appearance import render_name_seal

    response = api.post("/seals", headers=h(creds, "admin"), json={
        "org_name": ORG_NAME, "credit_code": ORG_CODE, "seal_type": "legal-representative",
        "holder_name": holder, "holder_id_number": "11010519491231002X"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == f"{holder}印"
    image = api.get(response.json()["image_url"], headers=h(creds, "admin")).content
    assert image == render_name_seal(face)  # 李建国印 in two columns; 欧阳修文印 is too long


# ----------------------------------------------------------------------------- stamping


def test_a_stamper_seals_a_pdf(api: Any, creds: dict[str, dict[str, str]],
                               seal: dict[str, Any], stamping: StampingEnv) -> None:
    response = _stamp(api, creds, seal["id"], approval_pdf())

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert_pyhanko_passes(response.content, stamping.root_der)
    pdfsig_check(response.content, stamping.nss, stamping.tmp)
    use_id = int(response.headers["x-zhengyin-seal-use"])
    uses = api.get(f"/seals/{seal['id']}/uses", headers=h(creds, "admin"),
                   params={"case_number": "审批〔2025〕7号"}).json()["uses"]
    mine = next(use for use in uses if use["id"] == use_id)
    assert mine["client_id"] == creds["stamper"]["id"]
    assert mine["document_name"] == "决定书.pdf"
    assert mine["output_sha256"] == response.headers["x-zhengyin-output-sha256"]
    csv = api.get(f"/seals/{seal['id']}/uses.csv", headers=h(creds, "admin"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert mine["output_sha256"] in csv.text


REFUSALS = [
    ("not-a-pdf", {"pdf": not_a_pdf()}, 422, "pdf.not_pdf"),
    ("encrypted", {"pdf": encrypted_pdf()}, 422, "pdf.encrypted"),
    ("page-out-of-range", {"options": json.dumps(
        {"placement": {"kind": "box", "page": 9, "box": [0, 0, 100, 100]}})},
     422, "placement.page_out_of_range"),
    ("box-partly-off-the-page", {"options": json.dumps(
        {"placement": {"kind": "box", "page": 1, "box": [500, 100, 650, 250]}})},
     422, "stamp.box_outside_page"),
    ("anchor-missing", {"options": json.dumps(
        {"placement": {"kind": "anchor", "text": "没有这句话"}})},
     422, "placement.anchor_not_found"),
    ("options-not-json", {"options": "{"}, 422, "stamp.invalid_options"),
    ("unknown-level", {"options": json.dumps(
        {"placement": {"kind": "invisible"}, "level": "B-X"})}, 422, "stamp.invalid_options"),
    ("blank-purpose", {"purpose": " "}, 422, "stamp.invalid_options"),
    ("client-not-authorised", {"who": "other"}, 404, "seal.not_found"),
]


@pytest.mark.parametrize(("case", "change", "status", "code"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_a_refused_stamp_is_a_problem_and_no_use(
        api: Any, creds: dict[str, dict[str, str]], seal: dict[str, Any], case: str,
        change: dict[str, Any], status: int, code: str) -> None:
    before = _uses(api, creds, seal["id"])
    change = dict(change)
    pdf = change.pop("pdf", approval_pdf())
    response = _stamp(api, creds, seal["id"], pdf, **change)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert _uses(api, creds, seal["id"]) == before


def test_a_second_seal_outside_the_reserved_field_is_409_naming_it(
        api: Any, creds: dict[str, dict[str, str]], seal: dict[str, Any]) -> None:
    first = _stamp(api, creds, seal["id"], approval_pdf(), options=json.dumps({
        "placement": {"kind": "anchor", "text": ANCHOR},
        "reserve": [{"name": "CoSeal1", "page": -1, "box": [60, 60, 179, 179]}]}))
    assert first.status_code == 200, first.text
    before = _uses(api, creds, seal["id"])

    second = _stamp(api, creds, seal["id"], first.content, options=json.dumps(
        {"placement": {"kind": "box", "page": 1, "box": [300, 300, 419, 419]}}))

    assert second.status_code == 409, second.text
    problem = second.json()
    assert problem["code"] == "stamp.not_permitted"
    assert problem["signature"] == first.headers["x-zhengyin-signature-field"]
    assert problem["reserved_fields"] == ["CoSeal1"]
    assert "CoSeal1" in problem["hint"]
    assert _uses(api, creds, seal["id"]) == before


def test_suspend_resume_and_revoke(api: Any, creds: dict[str, dict[str, str]]) -> None:
    admin = h(creds, "admin")
    seal = api.post("/seals", headers=admin, json={
        "org_name": ORG_NAME, "credit_code": ORG_CODE, "seal_type": "contract"}).json()
    api.post(f"/seals/{seal['id']}/clients", headers=admin,
             json={"client_id": creds["stamper"]["id"]})

    assert api.post(f"/seals/{seal['id']}/suspend", headers=admin,
                    json={"reason": "审查"}).json()["status"] == "suspended"
    refused = _stamp(api, creds, seal["id"], approval_pdf())
    assert (refused.status_code, refused.json()["code"]) == (409, "seal.unusable")
    again = api.post(f"/seals/{seal['id']}/suspend", headers=admin, json={"reason": "x"})
    assert (again.status_code, again.json()["code"]) == (409, "seal.illegal_transition")
    assert api.post(f"/seals/{seal['id']}/resume", headers=admin,
                    json={"reason": "通过"}).json()["status"] == "active"
    assert _stamp(api, creds, seal["id"], approval_pdf()).status_code == 200
    serial = seal["certificate_serial"]
    assert _ocsp_status(api, serial) == ("good", None)

    revoked = api.post(f"/seals/{seal['id']}/revoke", headers=admin,
                       json={"reason": "撤销", "key_compromised": True})
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["certificate_serial"] == serial
    # Revoking the seal revokes its certificate: OCSP and the CRL say so.
    assert _ocsp_status(api, serial) == ("revoked", "key_compromise")
    assert int(serial, 16) in _crl_serials(api)
    assert _stamp(api, creds, seal["id"], approval_pdf()).status_code == 409

    removed = api.delete(f"/seals/{seal['id']}/clients/{creds['stamper']['id']}", headers=admin)
    assert removed.json()["authorised_clients"] == []


# ----------------------------------------------------------------------------- batch


def test_a_batch_job_runs_in_the_pool(api: Any, creds: dict[str, dict[str, str]],
                                      seal: dict[str, Any], stamping: StampingEnv) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.pdf", approval_pdf(2))
        archive.writestr("b.pdf", approval_pdf(3))
    files = [("files", ("c.pdf", approval_pdf(1), "application/pdf")),
             ("files", ("bad.pdf", b"not a pdf", "application/pdf")),
             ("archive", ("in.zip", buffer.getvalue(), "application/zip"))]
    created = api.post(f"/seals/{seal['id']}/stamp-jobs", headers=h(creds, "stamper"),
                       data={"case_number": "批-1", "purpose": "批量",
                             "options": json.dumps({"placement": {"kind": "invisible"}})},
                       files=files)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]

    deadline = time.monotonic() + 60
    job = created.json()
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = api.get(f"/stamp-jobs/{job_id}", headers=h(creds, "stamper")).json()
    assert (job["status"], job["total"], job["succeeded"], job["failed"]) == ("done", 4, 3, 1)
    assert api.get(f"/stamp-jobs/{job_id}", headers=h(creds, "other")).status_code == 404
    output = api.get(job["output_url"], headers=h(creds, "stamper"))
    assert output.status_code == 200
    with zipfile.ZipFile(io.BytesIO(output.content)) as archive:
        assert sorted(archive.namelist()) == ["a.pdf", "b.pdf", "c.pdf"]
        for name in archive.namelist():
            check_everywhere(stamping, archive.read(name))


# ----------------------------------------------------------------------------- one state machine


def _audit_actions(api: Any, creds: dict[str, dict[str, str]], object_type: str,
                   object_id: str) -> list[str]:
    response = api.get("/admin/audit/entries", headers=h(creds, "admin"),
                       params={"object_type": object_type, "object_id": object_id,
                               "limit": 1000})
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["entries"]]


def _new_seal(api: Any, creds: dict[str, dict[str, str]]) -> dict[str, Any]:
    admin = h(creds, "admin")
    seal: dict[str, Any] = api.post("/seals", headers=admin, json={
        "org_name": ORG_NAME, "credit_code": ORG_CODE, "seal_type": "finance"}).json()
    api.post(f"/seals/{seal['id']}/clients", headers=admin,
             json={"client_id": creds["stamper"]["id"]})
    return seal


def _histories(api: Any, creds: dict[str, dict[str, str]], seal: dict[str, Any]
               ) -> tuple[list[str], list[str]]:
    return (_audit_actions(api, creds, "seal", seal["id"]),
            _audit_actions(api, creds, "certificate", seal["certificate_serial"]))


def test_revoking_a_seals_certificate_revokes_the_seal(
        api: Any, creds: dict[str, dict[str, str]]) -> None:
    admin, seal = h(creds, "admin"), _new_seal(api, creds)
    serial = seal["certificate_serial"]

    revoked = api.post(f"/admin/certificates/{serial}/revoke", headers=admin,
                       json={"reason": "key_compromise"})
    assert revoked.status_code == 200, revoked.text
    shown = api.get(f"/seals/{seal['id']}", headers=admin).json()
    assert (shown["status"], shown["status_reason"]) == \
        ("revoked", "certificate revoked: key_compromise")
    refused = _stamp(api, creds, seal["id"], approval_pdf())
    assert (refused.status_code, refused.json()["code"]) == (409, "seal.unusable")
    assert _ocsp_status(api, serial) == ("revoked", "key_compromise")
    histories = _histories(api, creds, seal)
    assert histories[0][-1] == "seal.revoked"
    assert histories[1][-1] == "certificate.revoked"

    # The other order now: revoking the seal, or the certificate again, changes nothing.
    again = api.post(f"/seals/{seal['id']}/revoke", headers=admin,
                     json={"reason": "印章遗失", "key_compromised": True})
    assert (again.status_code, again.json()["status"]) == (200, "revoked")
    assert api.post(f"/seals/{seal['id']}/revoke", headers=admin,
                    json={"reason": "撤销"}).status_code == 200
    assert api.post(f"/admin/certificates/{serial}/revoke", headers=admin,
                    json={"reason": "key_compromise"}).status_code == 200
    assert _histories(api, creds, seal) == histories


def test_revoking_a_seal_then_its_certificate_records_each_once(
        api: Any, creds: dict[str, dict[str, str]]) -> None:
    admin, seal = h(creds, "admin"), _new_seal(api, creds)
    serial = seal["certificate_serial"]
    assert api.post(f"/seals/{seal['id']}/revoke", headers=admin,
                    json={"reason": "机构撤销"}).status_code == 200
    histories = _histories(api, creds, seal)

    again = api.post(f"/admin/certificates/{serial}/revoke", headers=admin,
                     json={"reason": "cessation_of_operation"})
    assert again.status_code == 200, again.text
    assert again.json()["revocation_reason"] == "cessation_of_operation"
    assert _histories(api, creds, seal) == histories
    assert histories[0].count("seal.revoked") == histories[1].count("certificate.revoked") == 1
    # Another reason for a certificate revoked already is a conflict, not a silent change.
    other = api.post(f"/admin/certificates/{serial}/revoke", headers=admin,
                     json={"reason": "key_compromise"})
    assert (other.status_code, other.json()["code"]) == (409, "pki.revocation_refused")


def test_a_suspended_seals_certificate_is_on_hold_until_it_resumes(
        api: Any, creds: dict[str, dict[str, str]]) -> None:
    admin, seal = h(creds, "admin"), _new_seal(api, creds)
    serial = seal["certificate_serial"]
    assert api.post(f"/seals/{seal['id']}/suspend", headers=admin,
                    json={"reason": "审查"}).status_code == 200
    assert _ocsp_status(api, serial) == ("revoked", "certificate_hold")
    assert int(serial, 16) in _crl_serials(api)

    assert api.post(f"/seals/{seal['id']}/resume", headers=admin,
                    json={"reason": "通过"}).status_code == 200
    assert _ocsp_status(api, serial) == ("good", None)
    assert int(serial, 16) not in _crl_serials(api)
    assert _histories(api, creds, seal)[1][-2:] == ["certificate.held", "certificate.released"]


def test_revoking_a_suspended_seals_certificate_revokes_it_from_the_hold(
        api: Any, creds: dict[str, dict[str, str]]) -> None:
    admin, seal = h(creds, "admin"), _new_seal(api, creds)
    serial = seal["certificate_serial"]
    api.post(f"/seals/{seal['id']}/suspend", headers=admin, json={"reason": "审查"})
    held = api.get("/admin/certificates", headers=admin, params={"role": "seal",
                                                                  "limit": 500}).json()
    held_at = next(row["revoked_at"] for row in held if row["serial"] == serial)

    revoked = api.post(f"/admin/certificates/{serial}/revoke", headers=admin,
                       json={"reason": "key_compromise"})
    assert revoked.status_code == 200, revoked.text
    # Unusable since the hold began: the revocation keeps the hold's date.
    assert (revoked.json()["revocation_reason"], revoked.json()["revoked_at"]) == \
        ("key_compromise", held_at)
    assert api.get(f"/seals/{seal['id']}", headers=admin).json()["status"] == "revoked"
    assert _ocsp_status(api, serial) == ("revoked", "key_compromise")
    assert api.post(f"/seals/{seal['id']}/resume", headers=admin,
                    json={"reason": "x"}).status_code == 409


def test_a_hold_is_not_a_reason_an_administrator_revokes_with(
        api: Any, creds: dict[str, dict[str, str]]) -> None:
    seal = _new_seal(api, creds)
    refused = api.post(f"/admin/certificates/{seal['certificate_serial']}/revoke",
                       headers=h(creds, "admin"), json={"reason": "certificate_hold"})
    assert (refused.status_code, refused.json()["code"]) == (409, "pki.revocation_refused")
    assert api.get(f"/seals/{seal['id']}", headers=h(creds, "admin")).json()["status"] == \
        "active"


def test_a_seal_whose_certificate_was_revoked_alone_can_still_be_revoked(
        api: Any, creds: dict[str, dict[str, str]], stamping: StampingEnv) -> None:
    # Before one state machine, revoking the certificate left the seal active, and
    # revoking the seal then failed on the revoked certificate, forever.
    admin, seal = h(creds, "admin"), _new_seal(api, creds)
    with stamping.runtime.unit_of_work() as services:
        services.pki.revoke(seal["certificate_serial"], reason=RevocationReason.SUPERSEDED,
                            at=utcnow(), actor="test")
    revoked = api.post(f"/seals/{seal['id']}/revoke", headers=admin, json={"reason": "补记"})
    assert (revoked.status_code, revoked.json()["status"]) == (200, "revoked")
    assert _ocsp_status(api, seal["certificate_serial"]) == ("revoked", "superseded")
