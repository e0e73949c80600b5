"""A suspended seal's certificate is on hold: what each verifier says, and when.

Suspending a seal puts its certificate on hold (CRL reason certificateHold, OCSP revoked
with that reason); resuming takes it off. Documents sealed before the suspension, during
it (with the key, bypassing the registry) and after the resumption are verified by this
service, by pyHanko (our CRL, at the time-stamped signing time) and by poppler's pdfsig
(our OCSP responder) while the seal is suspended and again after it is resumed.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from io import BytesIO

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import generic_cms, validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from zhengyin.core.clock import utcnow
from zhengyin.signing.models import Seal, SealType
from zhengyin.trust.pki import ISSUING, ROOT
from zhengyin.trust.validation import Indication

from ..support import require_tool
from .conftest import VerifyEnv, checks_of, verify_env
from .test_lifecycle import _next_second, _sign_directly

__all__ = ["verify_env"]

pytestmark = pytest.mark.slow


def _suspend(env: VerifyEnv, seal: Seal) -> None:
    with env.runtime.unit_of_work() as services:
        services.seals.suspend(seal.id, reason="内部核查", at=utcnow(), actor="test")


def _resume(env: VerifyEnv, seal: Seal) -> None:
    with env.runtime.unit_of_work() as services:
        services.seals.resume(seal.id, reason="核查完毕", at=utcnow(), actor="test")


def _crls(env: VerifyEnv) -> list[asn1_crl.CertificateList]:
    with env.runtime.unit_of_work() as services:
        return [asn1_crl.CertificateList.load(services.crl.current(purpose, at=utcnow()))
                for purpose in (ROOT, ISSUING)]


def _pyhanko_trusts(env: VerifyEnv, pdf: bytes) -> bool:
    """pyHanko with our root and our current CRLs, at the signing time its time-stamp
    proves (pyHanko's plain validation asks "now"; a relying party with a time-stamp
    asks at the signing time)."""
    signature = PdfFileReader(BytesIO(pdf)).embedded_signatures[0]
    token = next(generic_cms.extract_tst_data_iter(signature.signer_info, signed=False))
    signed_at = token["encap_content_info"]["content"].parsed["gen_time"].native
    context = ValidationContext(
        trust_roots=[x509.Certificate.load(env.stamping.root_der)],
        other_certs=[x509.Certificate.load(env.stamping.issuing_der)],
        crls=_crls(env), allow_fetching=False, moment=signed_at,
        revocation_mode="require", retroactive_revinfo=True)
    status = validate_pdf_signature(signature, context)
    return bool(status.intact and status.valid and status.trusted)


def _pdfsig(env: VerifyEnv, pdf: bytes, name: str) -> str:
    """pdfsig's verdict on the certificate (it exits 0 whatever it found: read it)."""
    path = env.stamping.tmp / f"hold-{name}.pdf"
    path.write_bytes(pdf)
    result = subprocess.run([require_tool("pdfsig"), "-nssdir", f"sql:{env.stamping.nss}",
                             str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert "Signature Validation: Signature is Valid." in result.stdout, result.stdout
    lines = [line.strip() for line in result.stdout.splitlines()
             if "Certificate Validation:" in line]
    assert len(lines) == 1, result.stdout
    return lines[0].removeprefix("- Certificate Validation: ")


def _ocsp(env: VerifyEnv, seal: Seal) -> bytes:
    """Our OCSP responder's answer for the seal's certificate now."""
    issuer = x509.Certificate.load(env.stamping.issuing_der)
    with env.runtime.unit_of_work() as services:
        certificate = x509.Certificate.load(services.stamping.material(
            services.seals.get(seal.id)).certificate_der)
        request = ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": {
            "hash_algorithm": {"algorithm": "sha1"},
            "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),
            "issuer_key_hash": issuer.public_key.sha1,
            "serial_number": certificate.serial_number,
        }}]}})
        return services.ocsp.respond(request.dump(), at=utcnow())


def _with_dss(pdf: bytes, *, crls: tuple[bytes, ...] = (), ocsps: tuple[bytes, ...] = ()
              ) -> bytes:
    """``pdf`` with revocation data added to its DSS in an incremental update."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, crls=[asn1_crl.CertificateList.load(item) for item in crls],
        ocsps=[ocsp.OCSPResponse.load(item) for item in ocsps])
    out = BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _ours(env: VerifyEnv, pdf: bytes) -> Indication:
    return env.verify(pdf).verdict.indication


@dataclass(frozen=True)
class Story:
    """One seal's documents and what each verifier said while it was suspended."""

    seal_id: str
    before: bytes
    during: bytes
    after: bytes
    while_suspended: dict[str, tuple[Indication, bool, str]]
    held_crl: bytes
    """Our issuing CA's CRL while the seal was suspended (its certificate on hold)."""
    held_ocsp: bytes
    """Our OCSP responder's answer for the seal's certificate then (revoked, on hold)."""
    revocation_reasons: dict[str, str]
    """Our revocation check's reason for each document while the seal was suspended."""


def _all_verdicts(env: VerifyEnv, pdf: bytes, name: str) -> tuple[Indication, bool, str]:
    return _ours(env, pdf), _pyhanko_trusts(env, pdf), _pdfsig(env, pdf, name)


@pytest.fixture(scope="module")
def story(verify_env: VerifyEnv) -> Story:
    """Sealed before the suspension, during it (bypassing the registry), after it."""
    seal = verify_env.new_seal(SealType.APPROVAL)
    before = verify_env.stamp(seal=seal)
    _next_second()
    _suspend(verify_env, seal)
    _next_second()
    during = _sign_directly(verify_env, seal)
    while_suspended = {"before": _all_verdicts(verify_env, before, "before-suspended"),
                       "during": _all_verdicts(verify_env, during, "during-suspended")}
    held_crl, held_ocsp = _crls(verify_env)[1].dump(), _ocsp(verify_env, seal)
    reasons = {name: checks_of(verify_env.verify(pdf))["revocation"].reason.en
               for name, pdf in (("before", before), ("during", during))}
    _next_second()
    _resume(verify_env, seal)
    _next_second()
    after = verify_env.stamp(seal=seal)
    return Story(seal.id, before, during, after, while_suspended, held_crl, held_ocsp,
                 reasons)


def test_while_suspended_every_verifier_fails_what_was_sealed_during_it(
        story: Story) -> None:
    # pdfsig checks the certificate as of now (poppler 22.12 validates at the present
    # time), so while the seal is suspended it calls all its documents revoked, as it
    # does after a revocation; ours and pyHanko judge at the time-stamped signing time.
    assert story.while_suspended == {
        "before": (Indication.TOTAL_PASSED, True, "Certificate has been Revoked."),
        "during": (Indication.TOTAL_FAILED, False, "Certificate has been Revoked."),
    }


def test_the_reasons_call_a_hold_a_suspension(story: Story) -> None:
    assert "put on hold (its seal suspended)" in story.revocation_reasons["during"]
    assert "before the signing time" in story.revocation_reasons["during"]
    assert "put on hold (its seal suspended)" in story.revocation_reasons["before"]
    assert "after the signing time, so the signature stays valid" in \
        story.revocation_reasons["before"]


def test_after_resumption_the_registry_still_fails_what_was_sealed_during_it(
        verify_env: VerifyEnv, story: Story) -> None:
    seen = {name: _all_verdicts(verify_env, pdf, f"{name}-resumed")
            for name, pdf in (("before", story.before), ("during", story.during),
                              ("after", story.after))}
    # The hold is gone, so CRL and OCSP clients see the certificate good again; the
    # seal's state history still says it was suspended when the middle one was signed.
    assert seen == {
        "before": (Indication.TOTAL_PASSED, True, "Certificate is Trusted."),
        "during": (Indication.TOTAL_FAILED, True, "Certificate is Trusted."),
        "after": (Indication.TOTAL_PASSED, True, "Certificate is Trusted."),
    }
    assert checks_of(verify_env.verify(story.during))["seal"].reason.code == \
        "seal.suspended_at_signing"


@pytest.mark.parametrize("kind", ["crl", "ocsp"])
def test_an_old_hold_appended_to_a_later_document_does_not_fail_it(
        verify_env: VerifyEnv, story: Story, kind: str) -> None:
    # Anyone may fetch our CRL or an OCSP answer during a suspension and add it to the
    # DSS of a document sealed after the resumption: the hold it lists began before that
    # signature, but it was lifted, and our current CRL is the authority on our own
    # certificates.
    appended = _with_dss(story.after, **{f"{kind}s": (getattr(story, f"held_{kind}"),)})
    report = verify_env.verify(appended)
    assert report.verdict.indication is Indication.TOTAL_PASSED, \
        [reason.en for reason in report.verdict.reasons]
