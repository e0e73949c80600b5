"""What a sealed document may receive afterwards (issue 13 §3), as specifications.

A seal of this service is final: validation data, document time-stamps and a registered
seal in a field it reserved, nothing else. A document sealed elsewhere follows its
certification level (ISO 32000-1 §12.8.2.2) and the report warns of every field filled,
field added and annotation, with its page; the final rule is available for it by option
(library, CLI, API). The other authority is a test CA outside our PKI, trusted here as an
external trust anchor.
"""

from __future__ import annotations

import io
import json
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation.dss import DocumentSecurityStore

from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.signing.models import SealType
from zhengyin.signing.placement import ReservedField
from zhengyin.trust.validation import FINAL_POLICY, Indication, SubIndication, VerificationReport

from ..support import bearer
from .attacks import empty_signature_field_visible, evil_annotation, note_annotation
from .conftest import CO_SEAL_BOX, VerifyEnv, checks_of, verify_env
from .foreign import ForeignPKI, fill_text_field, form_pdf

__all__ = ["verify_env"]


@pytest.fixture(scope="module")
def other(verify_env: VerifyEnv) -> ForeignPKI:
    """Another authority, trusted as an external trust anchor."""
    return verify_env.trusted_authority()


def _passed(report: VerificationReport) -> None:
    assert report.verdict.indication is Indication.TOTAL_PASSED, \
        [reason.en for reason in report.verdict.reasons]


def _warnings(report: VerificationReport, index: int = 0) -> list[str]:
    return [warning.en for warning in report.signatures[index].warnings]


def _final(verify_env: VerifyEnv, pdf: bytes) -> VerificationReport:
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        return services.verifier.with_policy(FINAL_POLICY).verify_pdf(pdf, at=utcnow())


# ---------------------------------------------------------------------- sealed elsewhere


def test_a_field_filled_after_a_foreign_p2_certification_passes_with_a_warning(
        verify_env: VerifyEnv, other: ForeignPKI) -> None:
    certified = other.sign(form_pdf(), certify=MDPPerm.FILL_FORMS)
    _passed(verify_env.verify(certified))
    report = verify_env.verify(fill_text_field(certified))
    _passed(report)
    assert report.signatures[0].evidence.docmdp == 2
    assert checks_of(report)["seal"].reason.code == "seal.external"
    assert [warning.code for warning in report.signatures[0].warnings] == [
        "changes.permitted.field-filled"]
    assert "text field 'applicant' on page 1 filled" in _warnings(report)[0]


def test_the_final_option_refuses_the_same_foreign_fill(verify_env: VerifyEnv,
                                                        other: ForeignPKI) -> None:
    filled = fill_text_field(other.sign(form_pdf(), certify=MDPPerm.FILL_FORMS))
    report = _final(verify_env, filled)
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.FORMAT_FAILURE
    assert checks_of(report)["changes"].reason.code == "changes.field_values"
    assert not report.signatures[0].warnings


def test_the_same_fill_after_our_own_p2_certification_fails(verify_env: VerifyEnv) -> None:
    ours = verify_env.stamp(form_pdf(), reserve=(ReservedField("CoSeal1", -1, CO_SEAL_BOX),))
    assert verify_env.verify(ours).signatures[0].evidence.docmdp == 2
    report = verify_env.verify(fill_text_field(ours))
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.FORMAT_FAILURE
    changes = checks_of(report)["changes"]
    assert changes.reason.code == "changes.field_values"
    assert "text field 'applicant' on page 1 filled" in changes.reason.en
    assert "only validation data, document time-stamps" in changes.reason.en


def test_a_field_filled_after_a_foreign_p1_certification_fails(
        verify_env: VerifyEnv, other: ForeignPKI) -> None:
    report = verify_env.verify(fill_text_field(other.sign(form_pdf(),
                                                          certify=MDPPerm.NO_CHANGES)))
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.FORMAT_FAILURE
    assert "DocMDP P=1" in checks_of(report)["changes"].reason.en


def test_an_empty_signature_field_after_a_foreign_approval_passes_with_a_warning(
        verify_env: VerifyEnv, other: ForeignPKI) -> None:
    """ISO 32000 lets an approval-only document take form filling and signing."""
    report = verify_env.verify(empty_signature_field_visible(other.sign(form_pdf())))
    _passed(report)
    assert report.signatures[0].evidence.docmdp is None
    assert _warnings(report) == [
        "after signature 'Foreign' (update 3): an empty signature field 'Banner' added on "
        "page 1 (visible, rect [72 560 522 620])"]


def test_an_annotation_after_a_foreign_p3_certification_passes_with_a_warning(
        verify_env: VerifyEnv, other: ForeignPKI) -> None:
    report = verify_env.verify(evil_annotation(other.sign(form_pdf(),
                                                          certify=MDPPerm.ANNOTATE)))
    _passed(report)
    assert any("FreeText annotation on page 1 added" in text for text in _warnings(report))


def test_an_annotation_after_a_foreign_p2_certification_fails(
        verify_env: VerifyEnv, other: ForeignPKI) -> None:
    report = verify_env.verify(note_annotation(other.sign(form_pdf(),
                                                          certify=MDPPerm.FILL_FORMS)))
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.FORMAT_FAILURE
    assert "Text annotation on page 1 added" in checks_of(report)["changes"].reason.en


# ---------------------------------------------------------------------- sealed here


def test_a_registered_seal_filling_the_reserved_field_passes_without_warnings(
        verify_env: VerifyEnv) -> None:
    report = verify_env.verify(verify_env.co_sealed(verify_env.new_seal(SealType.CONTRACT)))
    _passed(report)
    first = checks_of(report)["changes"]
    assert first.reason.code == "changes.allowed"
    assert "signature field 'CoSeal1' on page 2 signed" in first.reason.en
    assert not report.signatures[0].warnings and not report.signatures[1].warnings


def test_validation_data_and_a_document_time_stamp_after_our_seal_pass(
        verify_env: VerifyEnv) -> None:
    from pyhanko.sign.signers import PdfTimeStamper

    from zhengyin.trust.pki import ISSUING, ROOT

    sealed = verify_env.stamp()
    with verify_env.runtime.unit_of_work() as services:
        crls = [services.crl.current(ROOT, at=utcnow()),
                services.crl.current(ISSUING, at=utcnow())]
    from asn1crypto import crl as asn1_crl

    # A relying party makes the file long-term: our CRLs in the DSS, then a time-stamp.
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, crls=[asn1_crl.CertificateList.load(item) for item in crls])
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    with_dss = out.getvalue()
    stamped = PdfTimeStamper(verify_env.runtime.pdf_timestamper()).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(with_dss)), md_algorithm="sha256")
    report = verify_env.verify(stamped.getvalue())
    _passed(report)
    changes = checks_of(report)["changes"]
    assert "validation data (DSS) added" in changes.reason.en
    assert "a document time-stamp" in changes.reason.en


def test_a_page_change_is_never_hidden_behind_a_count(verify_env: VerifyEnv) -> None:
    from .attacks import incremental_saving_new_content

    pdf = verify_env.stamp(certify=False)
    for _ in range(12):
        pdf = note_annotation(pdf)
    report = verify_env.verify(incremental_saving_new_content(pdf))
    reason = checks_of(report)["changes"].reason.en
    assert "page 1 content changed" in reason
    assert "more" in reason  # the twelve notes are counted, the page change is named


# ---------------------------------------------------------------------- interfaces


@pytest.fixture(scope="module")
def verifier_header(verify_env: VerifyEnv) -> dict[str, str]:
    with verify_env.runtime.unit_of_work() as services:
        issued = services.clients.add(name="change-policy", role=ClientRole.VERIFIER,
                                      org_credit_code=None, at=utcnow(), actor="test")
    return bearer(issued.credential)


def test_the_api_reports_warnings_and_modifications_and_takes_the_final_option(
        api: Any, verifier_header: dict[str, str], other: ForeignPKI) -> None:
    filled = fill_text_field(other.sign(form_pdf(), certify=MDPPerm.FILL_FORMS))
    upload = {"file": ("filled.pdf", filled, "application/pdf")}
    body = api.post("/verifications", headers=verifier_header, files=upload).json()
    assert body["verdict"]["indication"] == "TOTAL-PASSED"
    signature = body["signatures"][0]
    assert signature["warnings"][0]["code"] == "changes.permitted.field-filled"
    modification = next(item for item in signature["changes"]["modifications"]
                        if item["kind"] != "validation-data")
    assert (modification["kind"], modification["name"], modification["page"],
            modification["level"]) == ("field-filled", "applicant", 1, "FORM_FILLING")
    final = api.post("/verifications?final=true", headers=verifier_header,
                     files=upload).json()
    assert final["verdict"]["indication"] == "TOTAL-FAILED"
    assert final["verdict"]["reasons"][0]["code"] == "changes.field_values"
    sealed = api.post("/verifications/report.pdf?final=true", headers=verifier_header,
                      files=upload)
    assert sealed.status_code == 200
    assert sealed.headers["X-Zhengyin-Indication"] == "TOTAL-FAILED"


def test_the_cli_prints_the_warning_and_takes_the_final_option(
        cli: Any, other: ForeignPKI, tmp_path: Path) -> None:
    path = tmp_path / "filled.pdf"
    path.write_bytes(fill_text_field(other.sign(form_pdf(), certify=MDPPerm.FILL_FORMS)))
    plain = cli("verify", str(path))
    assert plain.exit_code == 0, plain.output
    printed = " ".join(plain.output.split())
    assert "note: after signature 'Foreign'" in printed
    assert "text field 'applicant' on page 1 filled" in printed
    final = cli("verify", str(path), "--final", "--json")
    assert final.exit_code == 1, final.output
    assert json.loads(final.output)["verdict"]["reasons"][0]["code"] == "changes.field_values"


def test_the_public_page_shows_the_warning_beside_a_passing_verdict(
        api: Any, other: ForeignPKI) -> None:
    filled = fill_text_field(other.sign(form_pdf(), certify=MDPPerm.FILL_FORMS))
    page = api.post("/verify", files={"file": ("filled.pdf", filled, "application/pdf")})
    assert page.status_code == 200
    html = unescape(" ".join(page.text.split()))
    assert 'data-indication="TOTAL-PASSED"' in html
    assert 'id="signature-1-notes"' in html
    assert "text field 'applicant' on page 1 filled" in html
