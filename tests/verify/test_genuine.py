"""Documents we sealed verify TOTAL-PASSED, with reasons that say what was verified.

Each case is cross-checked with pdfsig (poppler, NSS trusting our root) where it can
judge: a genuine document must pass both.
"""

from __future__ import annotations

import pytest

from zhengyin.signing.models import SealType
from zhengyin.trust.validation import CheckStatus, Indication, SubIndication

from ..signing.checks import pdfsig_check
from ..signing.documents import approval_pdf
from .conftest import VerifyEnv, checks_of, codes, verify_env

__all__ = ["verify_env"]


def _passed(report: object) -> None:
    verdict = report.verdict  # type: ignore[attr-defined]
    assert verdict.indication is Indication.TOTAL_PASSED, [r.en for r in verdict.reasons]
    assert verdict.sub_indication is None


def test_a_licence_pdf_passes_with_its_licence_valid(verify_env: VerifyEnv) -> None:
    identifier, pdf = verify_env.issue()
    report = verify_env.verify(pdf, file_name=f"{identifier}.pdf")
    _passed(report)
    assert report.licence is not None and report.licence.identifier == identifier
    assert report.licence.state_now.value == "valid"
    assert report.licence.state_at_signing is not None
    signature = report.signatures[0]
    assert signature.seal is not None and signature.seal.seal_code == \
        verify_env.market_seal.seal_code
    assert signature.signing_time_proven
    assert signature.evidence.certifies and signature.evidence.docmdp == 1
    assert {"changes.none", "certificate.trusted", "revocation.good", "timing.proven",
            "seal.registered", "licence.valid"} <= codes(report)
    pdfsig_check(pdf, verify_env.stamping.nss, verify_env.stamping.tmp)


@pytest.mark.parametrize("level", ["B-T", "B-LT", "B-LTA"])
def test_a_stamped_approval_passes_at_every_level(verify_env: VerifyEnv, level: str) -> None:
    pdf = verify_env.stamp(level=level)
    report = verify_env.verify(pdf)
    _passed(report)
    main = report.signatures[0]
    assert main.evidence.kind == "signature" and main.evidence.certifies
    assert checks_of(report)["licence"].status is CheckStatus.NOT_APPLICABLE
    if level == "B-LT":
        assert main.evidence.chain is not None
        # The DSS carries our CRL and OCSP answer from the signing time; our current
        # CRLs are the authority on our own certificates (an older one can list a
        # lifted hold), so revocation is decided by them alone.
        assert main.evidence.chain.revocation_source == "service"
    if level == "B-LTA":
        assert [item.evidence.kind for item in report.signatures] == \
            ["signature", "document-timestamp"]
        assert checks_of(report)["changes"].reason.code == "changes.allowed"
    pdfsig_check(pdf, verify_env.stamping.nss, verify_env.stamping.tmp)


def _resaved(pdf: bytes, how: str) -> bytes:
    """The document as other producers write it: linearised, or with a cross-reference
    stream and object streams (PDF 1.5)."""
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        out = io.BytesIO()
        if how == "linearised":
            document.save(out, linearize=True)
        else:
            document.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
        return out.getvalue()


@pytest.mark.parametrize("how", ["linearised", "object-streams"])
def test_updates_after_sealing_a_linearised_or_compressed_original_pass(
        verify_env: VerifyEnv, how: str) -> None:
    pdf = verify_env.stamp(_resaved(approval_pdf(2), how), level="B-LTA")
    report = verify_env.verify(pdf)
    _passed(report)
    layout = next(check for check in report.document if check.check == "file-layout")
    assert layout.reason.code == "document.bytes_accounted"
    assert "well-formed incremental update(s)" in layout.reason.en
    pdfsig_check(pdf, verify_env.stamping.nss, verify_env.stamping.tmp)


def test_an_uncertified_approval_signature_passes(verify_env: VerifyEnv) -> None:
    report = verify_env.verify(verify_env.stamp(certify=False))
    _passed(report)
    assert not report.signatures[0].evidence.certifies


def test_a_co_sealed_document_passes_for_both_seals(verify_env: VerifyEnv) -> None:
    second = verify_env.new_seal(SealType.CONTRACT)
    report = verify_env.verify(verify_env.co_sealed(second))
    _passed(report)
    first, other = report.signatures
    assert first.evidence.docmdp == 2
    assert first.changes.reason.code == "changes.allowed"
    assert other.seal is not None and other.seal.seal_code == second.seal_code


def test_a_licence_identifier_verifies_status_and_issued_file(verify_env: VerifyEnv) -> None:
    identifier, _pdf = verify_env.issue()
    report = verify_env.verify_identifier(identifier)
    _passed(report)
    assert report.subject.kind == "identifier"
    assert [check.check for check in report.document] == ["licence-status"]
    assert len(report.signatures) == 1


def test_an_unknown_identifier_is_indeterminate(verify_env: VerifyEnv) -> None:
    report = verify_env.verify_identifier(
        "1.2.156.3005.2.11100000000013338W032.11110105MB00000009.2025999999.001.0")
    assert report.verdict.indication is Indication.INDETERMINATE
    assert report.verdict.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert report.verdict.reasons[0].code == "licence.unknown"


def test_the_qr_code_printed_on_a_licence_verifies(verify_env: VerifyEnv) -> None:
    from zhengyin.core.clock import utcnow

    identifier, _pdf = verify_env.issue()
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        url = f"{verify_env.runtime.settings.public_base_url}/v/{identifier}"
        report = services.verifier.verify_qr(url, at=utcnow())
    _passed(report)
    assert report.document[0].reason.code == "qr.licence_url"


def test_a_qr_code_pointing_elsewhere_is_refused(verify_env: VerifyEnv) -> None:
    from zhengyin.core.clock import utcnow
    from zhengyin.trust.validation import UnsupportedPayloadError

    with verify_env.runtime.unit_of_work(readonly=True) as services, \
            pytest.raises(UnsupportedPayloadError, match="another site"):
        services.verifier.verify_qr("https://phish.example/v/1.2.156.3005.2.X", at=utcnow())


def test_the_sealed_report_verifies_as_a_document_of_its_own(verify_env: VerifyEnv) -> None:
    from zhengyin.core.clock import utcnow

    _identifier, pdf = verify_env.issue()
    report = verify_env.verify(pdf)
    with verify_env.runtime.unit_of_work() as services:
        sealed = verify_env.runtime.verification.report_pdf(services, report, at=utcnow())
    again = verify_env.verify(sealed)
    _passed(again)
    assert again.signatures[0].seal is not None
    assert again.signatures[0].seal.organisation == verify_env.runtime.settings.platform_name
    pdfsig_check(sealed, verify_env.stamping.nss, verify_env.stamping.tmp)
