"""Reasons say what happened (issue 13 item 7), each named for the situation it reports.

A certificate or time-stamp authority from outside this service's PKI, even one whose CA
carries the very name of ours, is named as not ours with its subject and SHA-256; the
plain CLI output carries every note the JSON report does; an encrypted PDF that opens
with an empty user password is verified, any other is not verifiable (never a verdict);
a PDF with document time-stamps only says what they prove; a hybrid-reference file's
signatures are refused naming the hybrid cross-reference (tests/verify/test_attacks.py).
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper, SimpleSigner
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from zhengyin.core.clock import utcnow
from zhengyin.signing.models import SealType
from zhengyin.signing.stamper import SealStamper
from zhengyin.trust.validation import EncryptedDocumentError, Indication, SubIndication

from ..signing.documents import approval_pdf
from .attacks import object_redefined_with_repeated_startxref
from .conftest import VerifyEnv, checks_of, codes, verify_env
from .test_interfaces import headers

__all__ = ["headers", "verify_env"]

_DER = serialization.Encoding.DER


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(_DER))


def _asn1_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        _DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class LookAlikePKI:
    """An attacker's CA carrying exactly the subject of our issuing CA, with its own key,
    and what it issues: a seal certificate with a registered seal's subject and a TSA."""

    def __init__(self, issuing_der: bytes) -> None:
        ours = x509.load_der_x509_certificate(issuing_der)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.start, self.end = now - timedelta(days=1), now + timedelta(days=30)
        self.ca = (
            x509.CertificateBuilder().subject_name(ours.subject).issuer_name(ours.subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.start).not_valid_after(self.end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(self.key, hashes.SHA256()))

    def _leaf(self, subject: x509.Name, public_key: object,
              extension: x509.ExtensionType, usage: x509.KeyUsage) -> x509.Certificate:
        return (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.ca.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
            .not_valid_before(self.start).not_valid_after(self.end)
            .add_extension(extension, critical=True)
            .add_extension(usage, critical=True)
            .sign(self.key, hashes.SHA256()))

    def seal_signer(self, subject_der: bytes) -> tuple[SimpleSigner, x509.Certificate]:
        """A signer whose certificate copies a registered seal's subject."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.load_der_x509_certificate(subject_der).subject
        leaf = self._leaf(subject, key.public_key(),
                          x509.BasicConstraints(ca=False, path_length=None),
                          x509.KeyUsage(True, True, False, False, False, False, False, False,
                                        False))
        return SimpleSigner(
            signing_cert=_asn1(leaf), signing_key=_asn1_key(key),
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                [_asn1(self.ca)])), leaf

    def timestamper(self) -> tuple[DummyTimeStamper, x509.Certificate]:
        """A TSA (RSA, as pyHanko's dummy TSA requires) named like ours would be."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name.from_rfc4514_string(
            f"CN=Zhengyin TSA,{self.ca.subject.rfc4514_string()}")
        leaf = self._leaf(subject, key.public_key(),
                          x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                          x509.KeyUsage(True, False, False, False, False, False, False, False,
                                        False))
        embedded = SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1(self.ca)])
        return DummyTimeStamper(tsa_cert=_asn1(leaf), tsa_key=_asn1_key(key),
                                certs_to_embed=embedded), leaf


@pytest.fixture(scope="module")
def lookalike(verify_env: VerifyEnv) -> LookAlikePKI:
    """The attacker's look-alike CA."""
    return LookAlikePKI(verify_env.stamping.issuing_der)


def _fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(_DER)).hexdigest()


def _seal_certificate(env: VerifyEnv) -> bytes:
    with env.runtime.unit_of_work(readonly=True) as services:
        material = services.stamping.material(services.seals.get(env.approval_seal.id))
    return material.certificate_der


def test_a_seal_certificate_from_a_look_alike_ca_is_named_as_not_ours(
        verify_env: VerifyEnv, lookalike: LookAlikePKI) -> None:
    signer, leaf = lookalike.seal_signer(_seal_certificate(verify_env))
    pdf = PdfSigner(PdfSignatureMetadata(field_name="Seal", subfilter=SigSeedSubFilter.PADES),
                    signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(approval_pdf(1))))
    report = verify_env.verify(bytes(pdf.getvalue()))
    certificate = checks_of(report)["certificate"]
    assert report.verdict.indication is Indication.INDETERMINATE
    assert certificate.reason.code == "certificate.not_ours"
    assert "not issued by this service's PKI" in certificate.reason.en
    assert _fingerprint(leaf) in certificate.reason.en
    assert "fails the chain constraints" not in certificate.reason.en


def test_a_document_time_stamp_from_a_look_alike_tsa_is_named_as_not_ours(
        verify_env: VerifyEnv, lookalike: LookAlikePKI) -> None:
    timestamper, leaf = lookalike.timestamper()
    sealed = verify_env.stamp()
    out = PdfTimeStamper(timestamper).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sealed)), "sha256")
    report = verify_env.verify(bytes(out.getvalue()))
    stamp = checks_of(report, 1)["certificate"]
    assert report.signatures[1].evidence.kind == "document-timestamp"
    assert stamp.reason.code == "certificate.not_ours"
    assert "not issued by this service's PKI" in stamp.reason.en
    assert _fingerprint(leaf) in stamp.reason.en
    timing = checks_of(report, 1)["timing"]
    assert timing.reason.en.startswith("the document time-stamp's authority was not issued "
                                       "by this service's PKI")


def test_a_signature_time_stamp_from_a_look_alike_tsa_is_named_as_not_ours(
        verify_env: VerifyEnv, lookalike: LookAlikePKI) -> None:
    from .test_certificate_checks import _registered, _sign

    timestamper, leaf = lookalike.timestamper()
    pdf = _sign(verify_env, _registered(verify_env, verify_env.approval_seal),
                timestamper=timestamper)
    report = verify_env.verify(pdf)
    timing = checks_of(report)["timing"]
    assert report.verdict.sub_indication is SubIndication.NO_POE
    assert timing.reason.code == "timing.timestamp_untrusted"
    assert "not issued by this service's PKI" in timing.reason.en
    assert _fingerprint(leaf) in timing.reason.en


# ---------------------------------------------------------------------- every interface


@pytest.mark.parametrize("attack", ["object_redefined_with_repeated_startxref",
                                    "object_hidden_in_update", "text_appended"])
def test_unaccounted_bytes_fail_alike_in_the_api_the_page_the_cli_and_offline(
        api: Any, headers: dict[str, dict[str, str]], cli: Any, verify_env: VerifyEnv,
        tmp_path: Path, attack: str) -> None:
    from asn1crypto import pem

    from .attacks import ATTACKS
    from .test_interfaces import _root

    pdf = ATTACKS[attack](verify_env.issue()[1])
    upload = {"file": ("attacked.pdf", pdf, "application/pdf")}
    body = api.post("/verifications", headers=headers["verifier"], files=upload).json()
    assert (body["verdict"]["indication"], body["verdict"]["sub_indication"]) == \
        ("TOTAL-FAILED", "FORMAT_FAILURE")
    assert body["verdict"]["reasons"][0]["code"] == "document.unaccounted_bytes"
    page = api.post("/verify", files=upload)
    assert "结论：TOTAL-FAILED（FORMAT_FAILURE）" in page.text
    document = tmp_path / "attacked.pdf"
    document.write_bytes(pdf)
    online = cli("verify", str(document))
    assert online.exit_code == 1 and "TOTAL-FAILED / FORMAT_FAILURE" in online.output
    listed, root = tmp_path / "list.jws", tmp_path / "root.pem"
    assert cli("trustlist", "export", "--out", str(listed)).exit_code == 0
    root.write_bytes(pem.armor("CERTIFICATE", _root(verify_env)))
    offline = cli("verify", str(document), "--trust-list", str(listed), "--root", str(root),
                  "--json")
    assert offline.exit_code == 1, offline.output
    verdict = json.loads(offline.output)["verdict"]
    assert (verdict["indication"], verdict["sub_indication"]) == ("TOTAL-FAILED",
                                                                  "FORMAT_FAILURE")


# ---------------------------------------------------------------------- plain CLI output


def test_the_plain_cli_output_carries_the_note_of_a_seal_revoked_after_signing(
        cli: Any, verify_env: VerifyEnv, tmp_path: Path) -> None:
    seal = verify_env.new_seal(SealType.APPROVAL)
    document = tmp_path / "sealed.pdf"
    document.write_bytes(verify_env.stamp(seal=seal, level="B-T"))
    with verify_env.runtime.unit_of_work() as services:
        services.seals.revoke(seal.id, reason="印章遗失", at=utcnow(), actor="test",
                              key_compromised=True)
    plain = cli("verify", str(document))
    assert plain.exit_code == 0, plain.output
    assert plain.output.splitlines()[0] == "TOTAL-PASSED"
    report = json.loads(cli("verify", str(document), "--json").output)
    checks = {check["check"]: check for check in report["signatures"][0]["checks"]}
    for check in ("revocation", "seal"):
        note = checks[check]["reason"]["en"]
        assert "revoked on" in note
        assert f"note: {note}" in plain.output


# ---------------------------------------------------------------------- encryption


def _encrypted(pdf: bytes, *, user: str) -> bytes:
    """``pdf`` encrypted with AES-256 (R6), owner password ``owner-secret``."""
    with pikepdf.open(io.BytesIO(pdf)) as document:
        out = io.BytesIO()
        document.save(out, encryption=pikepdf.Encryption(owner="owner-secret", user=user))
        return out.getvalue()


def _sign_encrypted(env: VerifyEnv, pdf: bytes) -> bytes:
    """A registered seal signs the encrypted file (the signature covers the encrypted
    bytes as stored); the update is encrypted like the file (ISO 32000-1 §7.6.1)."""
    from .test_certificate_checks import _registered

    signer = SealStamper(env.runtime.keystore, _registered(env, env.approval_seal)).signer
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.encrypt("owner-secret")  # type: ignore[no-untyped-call]
    out = PdfSigner(PdfSignatureMetadata(field_name="Seal", subfilter=SigSeedSubFilter.PADES,
                                         md_algorithm="sha256"), signer,
                    timestamper=env.runtime.pdf_timestamper()).sign_pdf(writer)
    return bytes(out.getvalue())


@pytest.fixture(scope="module")
def open_encrypted(verify_env: VerifyEnv) -> bytes:
    """A sealed PDF encrypted with an empty user password (anyone may open it)."""
    return _sign_encrypted(verify_env, _encrypted(approval_pdf(1), user=""))


@pytest.fixture(scope="module")
def locked(verify_env: VerifyEnv) -> bytes:
    """A sealed PDF that only opens with a password."""
    return _sign_encrypted(verify_env, _encrypted(approval_pdf(1), user="user-secret"))


def test_an_encrypted_pdf_that_opens_without_a_password_is_decrypted_and_verified(
        verify_env: VerifyEnv, open_encrypted: bytes) -> None:
    assert b"/Encrypt" in open_encrypted
    report = verify_env.verify(open_encrypted)
    assert report.verdict.indication is Indication.TOTAL_PASSED, \
        [reason.en for reason in report.verdict.reasons]
    assert {"signature.intact", "seal.registered", "document.bytes_accounted"} <= \
        codes(report)


def test_a_tampered_encrypted_pdf_still_fails(verify_env: VerifyEnv,
                                              open_encrypted: bytes) -> None:
    report = verify_env.verify(object_redefined_with_repeated_startxref(open_encrypted))
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert "document.unaccounted_bytes" in codes(report)


def test_a_password_protected_pdf_is_not_verifiable_not_failed(
        verify_env: VerifyEnv, locked: bytes) -> None:
    with pytest.raises(EncryptedDocumentError, match="encrypted with a password"):
        verify_env.verify(locked)


def test_a_password_protected_pdf_is_a_422_problem_and_exit_3(
        api: Any, headers: dict[str, dict[str, str]], cli: Any, locked: bytes,
        tmp_path: Path) -> None:
    response = api.post("/verifications", headers=headers["verifier"],
                        files={"file": ("locked.pdf", locked, "application/pdf")})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "verify.encrypted"
    page = api.post("/verify", files={"file": ("locked.pdf", locked, "application/pdf")})
    assert page.status_code == 422 and "无法核验" in page.text
    document = tmp_path / "locked.pdf"
    document.write_bytes(locked)
    result = cli("verify", str(document))
    assert result.exit_code == 3
    assert "encrypted with a password" in result.output


# ---------------------------------------------------------------------- time-stamps only


def test_a_pdf_with_document_time_stamps_only_says_what_they_prove(
        verify_env: VerifyEnv) -> None:
    out = PdfTimeStamper(verify_env.runtime.pdf_timestamper()).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(approval_pdf(1))), "sha256")
    report = verify_env.verify(bytes(out.getvalue()))
    assert report.verdict.indication is Indication.INDETERMINATE
    assert report.verdict.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    signed = next(check for check in report.document if check.check == "document-signed")
    assert signed.reason.code == "document.timestamped_only"
    assert signed.reason.en.startswith("time-stamped, no seal: the time-stamp of")
    assert "proves the document existed as time-stamped at" in signed.reason.en
    assert "document.unsigned" not in codes(report)
    assert [item.verdict.indication for item in report.signatures] == \
        [Indication.TOTAL_PASSED]
