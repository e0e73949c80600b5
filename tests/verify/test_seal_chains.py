"""The certificates our born-sealed PDFs carry: the seal's, then the CAs that issued it.

Licences and verification reports take their signers from one per-seal cache
(signing/pdf/signers.py), which walks the seal certificate's issuer links and leaves the
root out (verifiers trust it directly). A report sealed right after a CA re-key must carry
the CA that issued the platform seal, not the new issuing CA.
"""

from __future__ import annotations

from io import BytesIO

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.registry.platform import platform_seal
from zhengyin.trust.models import CertificateRecord
from zhengyin.trust.pki import IssuedCertificate

from .conftest import VerifyEnv, verify_env

__all__ = ["verify_env"]


def _embedded_chain(pdf: bytes) -> list[bytes]:
    """DER of the certificates the first signature's CMS carries besides the signer's."""
    signature = PdfFileReader(BytesIO(pdf)).embedded_signatures[0]
    signer = signature.signer_cert.dump()
    carried = [choice.chosen.dump() for choice in signature.signed_data["certificates"]]
    assert signer in carried
    return sorted(der for der in carried if der != signer)


def _issuers_by_link(runtime: Runtime, pdf: bytes) -> list[bytes]:
    """DER of the CAs above the PDF's signer, read from the registry's certificate records."""
    signer = PdfFileReader(BytesIO(pdf)).embedded_signatures[0].signer_cert
    with runtime.unit_of_work(readonly=True) as services:
        record = services.pki.record(format(signer.serial_number, "x"))
        return sorted(bytes(certificate.dump())
                      for certificate in services.pki.chain(IssuedCertificate.of(record))[1:-1])


def _report_pdf(runtime: Runtime, env: VerifyEnv) -> bytes:
    report = env.verify(env.issue()[1])
    with runtime.unit_of_work() as services:
        return runtime.verification.report_pdf(services, report, at=utcnow())


def test_licences_and_reports_carry_their_seals_issuers_and_not_the_root(
        verify_env: VerifyEnv) -> None:
    runtime = verify_env.runtime
    _identifier, licence = verify_env.issue()
    report = _report_pdf(runtime, verify_env)
    with runtime.unit_of_work(readonly=True) as services:
        root = services.pki.identity("root").der
    assert _embedded_chain(licence) == _issuers_by_link(runtime, licence)
    assert _embedded_chain(report) == _issuers_by_link(runtime, report)
    assert _embedded_chain(licence) == _embedded_chain(report)  # same issuing CA here
    assert root not in _embedded_chain(licence)


def test_a_report_sealed_after_an_issuing_ca_rekey_carries_the_ca_that_issued_its_seal(
        verify_env: VerifyEnv) -> None:
    runtime = verify_env.runtime
    settings = runtime.settings
    with runtime.unit_of_work() as services:
        seal = platform_seal(services.session, services.seals, org_name=settings.platform_name,
                             credit_code=settings.platform_credit_code, at=utcnow(),
                             create=True)
        seal_issuer = services.session.get(CertificateRecord, seal.certificate.issuer_id)
        assert seal_issuer is not None
        previous = bytes(seal_issuer.der)
        # The issuing CA is re-keyed (the PKI's own step; no command exposes it yet).
        services.pki._create_issuing(utcnow(), "test")
        current = services.pki.identity("issuing").der
    assert current != previous
    restarted = Runtime(settings)  # a process that meets the seal only after the re-key
    try:
        chain = _embedded_chain(_report_pdf(restarted, verify_env))
    finally:
        restarted.close()
    assert chain == [previous]
    assert asn1_x509.Certificate.load(previous).subject == \
        asn1_x509.Certificate.load(current).subject  # same CA name, other key
