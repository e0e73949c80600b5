"""The interfaces of verification: API (JSON, sealed PDF), public page, trust list,
external trust anchors and the ``zhengyin verify`` command (exit codes 0/1/2/3)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.trust.validation import SCHEMA_VERSION, Indication

from ..support import bearer
from .attacks import incremental_saving_new_content
from .conftest import VerifyEnv, make_verify_env

MAX_PDF = 3 * 1024 * 1024
PUBLIC_MAX = 1024 * 1024


@pytest.fixture(scope="module")
def verify_env(database_url: str, kek_text: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerifyEnv]:
    """The environment with small upload limits."""
    yield from make_verify_env(database_url, kek_text, tmp_path_factory,
                               max_pdf_bytes=MAX_PDF, public_verify_max_bytes=PUBLIC_MAX)


@pytest.fixture(scope="module")
def headers(verify_env: VerifyEnv) -> dict[str, dict[str, str]]:
    from zhengyin.core.clock import utcnow

    result = {}
    with verify_env.runtime.unit_of_work() as services:
        for role in (ClientRole.VERIFIER, ClientRole.ADMIN):
            issued = services.clients.add(name=f"verify-{role.value}", role=role,
                                          org_credit_code=None, at=utcnow(), actor="test")
            result[role.value] = bearer(issued.credential)
    return result


@pytest.fixture(scope="module")
def licence(verify_env: VerifyEnv) -> tuple[str, bytes]:
    return verify_env.issue()


def _upload(pdf: bytes, name: str = "licence.pdf") -> dict[str, Any]:
    return {"file": (name, pdf, "application/pdf")}


# ---------------------------------------------------------------------- API


def test_the_api_answers_the_json_report(api: Any, headers: dict[str, dict[str, str]],
                                         licence: tuple[str, bytes]) -> None:
    identifier, pdf = licence
    response = api.post("/verifications", headers=headers["verifier"], files=_upload(pdf))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schema_version"] == SCHEMA_VERSION == "zhengyin.verification/1"
    assert body["verdict"]["indication"] == "TOTAL-PASSED"
    assert body["subject"] == {"kind": "pdf", "sha256": body["subject"]["sha256"],
                               "size": len(pdf), "file_name": "licence.pdf",
                               "identifier": identifier}
    signature = body["signatures"][0]
    assert signature["seal"]["organisation"] == "北京市朝阳区市场监督管理局"
    assert signature["signing_time_proven"] is True
    assert {check["check"] for check in signature["checks"]} == {
        "format", "integrity", "changes", "certificate", "seed-values", "revocation",
        "timing", "seal", "licence"}
    assert body["licence"]["status_now"] == "valid"


def test_a_tampered_pdf_is_an_answer_not_an_error(api: Any, headers: dict[str, dict[str, str]],
                                                  licence: tuple[str, bytes]) -> None:
    response = api.post("/verifications", headers=headers["verifier"],
                        files=_upload(incremental_saving_new_content(licence[1])))
    assert response.status_code == 200
    body = response.json()
    assert body["verdict"]["indication"] == "TOTAL-FAILED"
    assert body["verdict"]["sub_indication"] == "FORMAT_FAILURE"
    assert body["verdict"]["reasons"][0]["code"] == "changes.forbidden"
    assert "页" in body["verdict"]["reasons"][0]["zh"]


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(64), 422, "verify.not_pdf"),
    (b"%PDF-1.7\n" + bytes(MAX_PDF), 413, "verify.too_large"),
], ids=["not_a_pdf", "too_large"])
def test_what_cannot_be_verified_is_a_problem_document(
        api: Any, headers: dict[str, dict[str, str]], data: bytes, status: int,
        code: str) -> None:
    response = api.post("/verifications", headers=headers["verifier"], files=_upload(data))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_the_sealed_pdf_report_verifies_itself(api: Any, headers: dict[str, dict[str, str]],
                                               verify_env: VerifyEnv,
                                               licence: tuple[str, bytes]) -> None:
    response = api.post("/verifications/report.pdf", headers=headers["verifier"],
                        files=_upload(licence[1]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-zhengyin-indication"] == "TOTAL-PASSED"
    assert verify_env.verify(response.content).verdict.passed


def test_identifier_and_qr_payload(api: Any, headers: dict[str, dict[str, str]],
                                   verify_env: VerifyEnv, licence: tuple[str, bytes]) -> None:
    identifier = licence[0]
    by_identifier = api.get(f"/verifications/licences/{identifier}", headers=headers["verifier"])
    assert by_identifier.status_code == 200
    assert by_identifier.json()["subject"]["kind"] == "identifier"
    assert by_identifier.json()["verdict"]["indication"] == "TOTAL-PASSED"
    url = f"{verify_env.runtime.settings.public_base_url}/v/{identifier}"
    by_qr = api.post("/verifications/qr", headers=headers["verifier"], json={"payload": url})
    assert by_qr.status_code == 200
    assert by_qr.json()["document_checks"][0]["reason"]["code"] == "qr.licence_url"
    elsewhere = api.post("/verifications/qr", headers=headers["verifier"],
                         json={"payload": "https://example.org/v/x"})
    assert elsewhere.status_code == 422
    assert elsewhere.json()["code"] == "verify.unsupported_payload"


def test_the_openapi_document_describes_the_report(api: Any) -> None:
    document = api.get("/openapi.json").json()
    operations = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    assert {"verify_pdf", "verify_pdf_report", "verify_licence", "verify_qr_payload",
            "get_trust_list", "add_trust_anchor"} <= operations
    schema = document["components"]["schemas"]["VerificationReportRead"]
    assert {"schema_version", "verdict", "signatures", "document_checks"} <= set(
        schema["properties"])


# ---------------------------------------------------------------------- public page


def test_the_public_page_shows_green_red_and_the_licence(api: Any, licence: tuple[str, bytes]
                                                         ) -> None:
    identifier, pdf = licence
    form = api.get("/verify")
    assert form.status_code == 200 and 'name="file"' in form.text
    assert "script-src 'self'" in form.headers["content-security-policy"]
    good = api.post("/verify", files=_upload(pdf))
    assert good.status_code == 200
    assert 'data-indication="TOTAL-PASSED"' in good.text
    assert "北京市朝阳区市场监督管理局" in good.text and "data:image/png;base64," in good.text
    bad = api.post("/verify", files=_upload(incremental_saving_new_content(pdf)))
    assert 'data-indication="TOTAL-FAILED"' in bad.text and "核验不通过" in bad.text
    page = api.get(f"/v/{identifier}")
    assert page.status_code == 200 and 'id="licence-status"' in page.text
    assert api.get("/verify/licence", params={"identifier": identifier},
                   follow_redirects=False).headers["location"] == f"/v/{identifier}"
    assert api.get("/v/1.2.156.3005.2.NOSUCHLICENCE").status_code == 404


def test_the_public_page_shows_amber_and_the_reason_when_it_cannot_decide(
        api: Any, verify_env: VerifyEnv) -> None:
    import re

    from .attacks import impostor_alone

    unsure = impostor_alone(verify_env.stamp(certify=False))
    page = api.post("/verify", files=_upload(unsure, "unsure.pdf"))
    assert page.status_code == 200
    banner = re.search(r'<p class="verdict-(\w+) verdict-banner" id="verdict" '
                       r'data-indication="([A-Z-]+)">([^<]*)</p>', page.text)
    assert banner is not None, page.text[:3000]
    assert banner.groups() == ("indeterminate", "INDETERMINATE", "⚠ 无法确认")
    assert 'class="card verdict-card verdict-indeterminate-card"' in page.text
    assert "结论：INDETERMINATE（NO_CERTIFICATE_CHAIN_FOUND）" in page.text
    reasons = re.search(r'<ul class="reasons" id="reasons">(.*?)</ul>', page.text, re.S)
    assert reasons is not None
    assert "（自签名证书）不是由受信任的证书机构签发的" in reasons.group(1)


def test_the_public_page_offers_the_report_it_showed(api: Any, verify_env: VerifyEnv,
                                                     licence: tuple[str, bytes]) -> None:
    import re

    page = api.post("/verify", files=_upload(licence[1]))
    token = re.search(r"/verify/reports/([A-Za-z0-9_-]+)\.pdf", page.text)
    assert token is not None
    pdf = api.get(f"/verify/reports/{token.group(1)}.pdf")
    assert pdf.status_code == 200 and verify_env.verify(pdf.content).verdict.passed
    as_json = api.get(f"/verify/reports/{token.group(1)}.json")
    assert as_json.json()["verdict"]["indication"] == "TOTAL-PASSED"
    assert api.get("/verify/reports/unknown.json").status_code == 404


def test_the_public_page_limits_size_and_rate(api: Any, verify_env: VerifyEnv) -> None:
    from zhengyin.api.ratelimit import RateLimiter

    big = api.post("/verify", files=_upload(b"%PDF-1.7\n" + bytes(PUBLIC_MAX)))
    assert big.status_code == 413 and "无法核验" in big.text
    caches = verify_env.runtime.verification
    original = caches.public_limiter
    caches.public_limiter = RateLimiter(2, burst=2)
    try:
        statuses = [api.get("/v/1.2.156.3005.2.X").status_code for _ in range(3)]
    finally:
        caches.public_limiter = original
    assert statuses[-1] == 429


# ---------------------------------------------------------------------- trust list, anchors


def _root(verify_env: VerifyEnv) -> bytes:
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        return bytes(services.pki.identity("root").der)


def test_the_trust_list_is_signed_and_lists_seals(api: Any, verify_env: VerifyEnv) -> None:
    from zhengyin.trust.trustlist import read_trust_list

    response = api.get("/trust-list")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jose")
    listed = read_trust_list(response.text, [_root(verify_env)], now=utcnow())
    codes = {seal["seal_code"]: seal for seal in listed.payload["seals"]}
    assert codes[verify_env.market_seal.seal_code]["organisation"] == "北京市朝阳区市场监督管理局"
    assert codes[verify_env.market_seal.seal_code]["status"] == "active"
    assert listed.payload["v"] == 1 and listed.payload["crls"]
    assert "registry" in listed.payload["service_certificates"]
    from zhengyin.core.jose import JWSError

    with pytest.raises(JWSError):
        read_trust_list(response.text[:-4] + "AAAA", [_root(verify_env)], now=utcnow())


def test_a_trust_list_past_its_next_update_is_refused(api: Any, verify_env: VerifyEnv) -> None:
    from zhengyin.core.jose import JWSError
    from zhengyin.trust.trustlist import read_trust_list

    token = api.get("/trust-list").text
    read_trust_list(token, [_root(verify_env)], now=utcnow() + timedelta(hours=11))
    with pytest.raises(JWSError, match="expired"):
        read_trust_list(token, [_root(verify_env)], now=utcnow() + timedelta(hours=13))


def _external_ca() -> tuple[Any, Any, bytes]:
    """Another authority's root and CRL, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=External Root,O=Other Authority,C=CN")
    now = datetime.now(UTC)
    root = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, root, root.public_bytes(serialization.Encoding.DER)


def _signed_under_external(root_key: Any, root: Any) -> bytes:
    """A PDF signed by a certificate of the external CA, its CRL in the DSS."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from ..signing.documents import approval_pdf

    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name.from_rfc4514_string("CN=External Signer,O=Other Authority"))
            .issuer_name(root.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    revocations = (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
                   .last_update(now - timedelta(minutes=5)).next_update(now + timedelta(days=7))
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       root_key.public_key()), critical=False)
                   .add_extension(x509.CRLNumber(1), critical=False)
                   .sign(root_key, hashes.SHA256()))
    der = serialization.Encoding.DER
    asn1_root = asn1_x509.Certificate.load(root.public_bytes(der))
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(leaf.public_bytes(der)),
        signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs([asn1_root]))  # type: ignore[no-untyped-call]  # unannotated
    context = ValidationContext(trust_roots=[asn1_root], allow_fetching=False,
                                crls=[asn1_crl.CertificateList.load(revocations.public_bytes(der))])
    writer = IncrementalPdfFileWriter(io.BytesIO(approval_pdf(1)))
    # sign_pdf's return is unannotated; with no ``output`` it is a fresh BytesIO.
    out = cast(io.BytesIO, signers.sign_pdf(writer, signers.PdfSignatureMetadata(
        field_name="External", subfilter=SigSeedSubFilter.PADES, embed_validation_info=True,
        validation_context=context), signer=signer))
    return out.getvalue()


def test_an_external_trust_anchor_makes_its_signatures_verifiable(
        api: Any, headers: dict[str, dict[str, str]], verify_env: VerifyEnv) -> None:
    from cryptography.hazmat.primitives import serialization

    key, root, _der = _external_ca()
    pdf = _signed_under_external(key, root)
    sub_indication = verify_env.verify(pdf).verdict.sub_indication
    assert sub_indication is not None
    assert sub_indication.value == "NO_CERTIFICATE_CHAIN_FOUND"
    pem = root.public_bytes(serialization.Encoding.PEM).decode()
    added = api.post("/admin/trust-anchors", headers=headers["admin"],
                     json={"certificate": pem, "note": "test: another authority"})
    assert added.status_code == 201, added.text
    report = verify_env.verify(pdf)
    assert report.verdict.indication is Indication.TOTAL_PASSED, \
        [reason.en for reason in report.verdict.reasons]
    checks = {check.check: check for check in report.signatures[0].checks}
    assert checks["seal"].reason.code == "seal.external"
    assert checks["certificate"].reason.en.endswith("'CN=External Root,O=Other Authority,"
                                                    "C=CN'") or "External Root" in \
        checks["certificate"].reason.en
    removed = api.delete(f"/admin/trust-anchors/{added.json()['sha256']}",
                         headers=headers["admin"])
    assert removed.json()["status"] == "removed"
    assert not verify_env.verify(pdf).verdict.passed
    not_a_ca = api.post("/admin/trust-anchors", headers=headers["admin"],
                        json={"certificate": "-----BEGIN CERTIFICATE-----\n" + "A" * 80
                              + "\n-----END CERTIFICATE-----\n"})
    assert not_a_ca.status_code == 422


# ---------------------------------------------------------------------- CLI


def test_the_cli_exit_code_is_the_verdict(cli: Any, verify_env: VerifyEnv,
                                          licence: tuple[str, bytes], tmp_path: Path) -> None:
    good = tmp_path / "good.pdf"
    good.write_bytes(licence[1])
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(incremental_saving_new_content(licence[1]))
    unsure = tmp_path / "unsure.pdf"
    from .attacks import impostor_alone

    unsure.write_bytes(impostor_alone(verify_env.stamp(certify=False)))
    picture = tmp_path / "picture.pdf"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    passed = cli("verify", str(good), "--json")
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.output)["verdict"]["indication"] == "TOTAL-PASSED"
    assert cli("verify", str(bad)).exit_code == 1
    assert cli("verify", str(unsure)).exit_code == 2
    not_pdf = cli("verify", str(picture))
    assert not_pdf.exit_code == 3
    report = tmp_path / "report.pdf"
    assert cli("verify", "--licence", licence[0], "--report", str(report)).exit_code == 0
    assert verify_env.verify(report.read_bytes()).verdict.passed


def test_the_cli_shows_the_signing_time_in_beijing_time(cli: Any, verify_env: VerifyEnv,
                                                        licence: tuple[str, bytes],
                                                        tmp_path: Path) -> None:
    from zhengyin.core.clock import beijing_time

    document = tmp_path / "licence.pdf"
    document.write_bytes(licence[1])
    signed_at = verify_env.verify(licence[1]).signatures[0].signing_time
    assert signed_at is not None
    plain = cli("verify", str(document))
    assert "".join(beijing_time(signed_at).split()) in "".join(plain.output.split())


def test_the_cli_verifies_offline_from_an_exported_trust_list(
        cli: Any, verify_env: VerifyEnv, licence: tuple[str, bytes], tmp_path: Path) -> None:
    from asn1crypto import pem

    listed = tmp_path / "trust-list.jws"
    assert cli("trustlist", "export", "--out", str(listed)).exit_code == 0
    root = tmp_path / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", _root(verify_env)))
    document = tmp_path / "licence.pdf"
    document.write_bytes(licence[1])
    offline = cli("verify", str(document), "--trust-list", str(listed), "--root", str(root),
                  "--json")
    assert offline.exit_code == 0, offline.output
    body = json.loads(offline.output)
    checks = {check["check"]: check for check in body["signatures"][0]["checks"]}
    assert checks["seal"]["status"] == "passed"
    assert checks["licence"]["reason"]["code"] == "licence.offline"
    shown = cli("trustlist", "show", str(listed), "--root", str(root))
    assert shown.exit_code == 0 and verify_env.market_seal.seal_code in shown.output
