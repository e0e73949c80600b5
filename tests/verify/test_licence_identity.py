"""A licence is identified by its signed bytes, never by metadata (issue 13 §1).

Every bad fixture starts from a licence the registry really issued and sealed: its
document information rewritten in place by a later revision (the /ZZBS dropped, a
number, 300 characters, another licence's identifier) on a revoked licence; a document
sealed elsewhere that claims a licence in a later revision or in XMP. Genuine variants
(validation data and a document time-stamp appended, the identity metadata ignored) must
still resolve to their licence.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from asn1crypto import crl as asn1_crl
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from zhengyin.core.clock import utcnow
from zhengyin.trust.pki import ISSUING, ROOT
from zhengyin.trust.validation import CheckStatus, Indication, SubIndication, Verifier

from ..signing.documents import approval_pdf
from .conftest import VerifyEnv, checks_of, verify_env
from .foreign import ForeignPKI

__all__ = ["verify_env"]


@pytest.fixture(scope="module")
def other(verify_env: VerifyEnv) -> ForeignPKI:
    """Another authority, trusted as an external trust anchor."""
    return verify_env.trusted_authority()


def _revoked(env: VerifyEnv) -> tuple[str, bytes]:
    identifier, pdf = env.issue()
    env.revoke(identifier)
    return identifier, pdf


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _rewrite_info(pdf: bytes, value: generic.PdfObject | None) -> bytes:
    """An incremental update redefining the document information dictionary in place
    (same object number): /ZZBS set to ``value``, or dropped."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    reference = writer.trailer.raw_get("/Info")
    assert isinstance(reference, generic.IndirectObject)
    info = reference.get_object()  # type: ignore[no-untyped-call]
    if value is None:
        del info["/ZZBS"]
    else:
        info[pdf_name("/ZZBS")] = value
    writer.mark_update(reference)
    return _written(writer)


def _with_xmp(pdf: bytes, identifier: str, *, attribute: bool = False) -> bytes:
    """An incremental update giving the catalog XMP metadata that names ``identifier``
    (a ``zz:ZZBS`` element, or a ``certificateIdentifier`` attribute)."""
    entry = f'zz:certificateIdentifier="{identifier}">' if attribute else \
        f'><zz:ZZBS>{identifier}</zz:ZZBS>'
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/'
              '1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:zz="urn:gbt'
              f'36903" {entry}</rdf:Description></rdf:RDF></x:xmpmeta>')
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.root[pdf_name("/Metadata")] = writer.add_object(
        MetadataStream(stream_data=packet.encode()))
    writer.update_root()  # type: ignore[no-untyped-call]
    return _written(writer)


def _another(env: VerifyEnv) -> str:
    return env.issue(holder_code="91110108551385082Q")[0]


def _replacement(rewrite: str, other: str) -> generic.PdfObject | None:
    """The /ZZBS a forger writes: none, empty, a number, 300 characters, another
    licence's."""
    if rewrite == "empty":
        return generic.TextStringObject("")
    if rewrite == "numeric":
        return generic.NumberObject(42)  # type: ignore[no-untyped-call]
    if rewrite == "over-long":
        return generic.TextStringObject("1.2.156.3005.2." + "9" * 285)
    return generic.TextStringObject(other) if rewrite == "another-licence" else None


@pytest.mark.parametrize("rewrite", ["dropped", "empty", "numeric", "over-long",
                                     "another-licence"])
def test_an_info_rewrite_on_a_revoked_licence_never_passes_and_reports_the_revocation(
        verify_env: VerifyEnv, rewrite: str) -> None:
    identifier, pdf = _revoked(verify_env)
    forged = _rewrite_info(pdf, _replacement(rewrite, _another(verify_env)))
    report = verify_env.verify(forged)
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.licence is not None and report.licence.identifier == identifier
    assert report.licence.state_now.value == "revoked"
    licence = checks_of(report)["licence"]
    assert licence.status is CheckStatus.FAILED
    assert "revoked" in licence.reason.en


def test_a_claim_of_another_licence_after_the_seal_names_both(
        verify_env: VerifyEnv) -> None:
    identifier, pdf = verify_env.issue()
    other = _another(verify_env)
    report = verify_env.verify(_rewrite_info(pdf, generic.TextStringObject(other)))
    licence = checks_of(report)["licence"]
    assert licence.reason.code == "licence.claim_mismatch"
    assert licence.sub_indication is SubIndication.FORMAT_FAILURE
    assert identifier in licence.reason.en and other in licence.reason.en


def test_a_licence_is_identified_by_its_signed_digest_without_any_metadata(
        verify_env: VerifyEnv) -> None:
    """The examined evidence with every identifier removed (as if the issuer had sealed
    a PDF without document information) still resolves to the licence."""
    identifier, pdf = verify_env.issue()
    at = utcnow()
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        evidence = services.verifier.examiner.examine(pdf, at=at)
        assert [claim.identifier for claim in evidence.licence_claims] == [identifier]
        blind = replace(evidence, licence_claims=(), signatures=tuple(
            replace(item, licence_identifier=None, licence_metadata=())
            for item in evidence.signatures))
        report = services.verifier.judge(blind, at=at)
    assert report.verdict.indication is Indication.TOTAL_PASSED
    assert report.licence is not None and report.licence.identifier == identifier
    assert checks_of(report)["licence"].reason.code == "licence.valid"


def test_a_licence_extended_with_validation_data_and_a_time_stamp_still_resolves(
        verify_env: VerifyEnv) -> None:
    identifier, pdf = verify_env.issue()
    with verify_env.runtime.unit_of_work() as services:
        crls = [asn1_crl.CertificateList.load(services.crl.current(authority, at=utcnow()))
                for authority in (ROOT, ISSUING)]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    DocumentSecurityStore.supply_dss_in_writer(writer, None, crls=crls)
    extended = _written(writer)
    writer = IncrementalPdfFileWriter(io.BytesIO(extended), strict=False)
    stamped = PdfTimeStamper(verify_env.runtime.pdf_timestamper()).timestamp_pdf(
        writer, md_algorithm="sha256")
    report = verify_env.verify(stamped.getvalue())
    assert report.verdict.indication is Indication.TOTAL_PASSED, \
        [reason.en for reason in report.verdict.reasons]
    assert report.licence is not None and report.licence.identifier == identifier
    seal, stamp = report.signatures
    assert seal.licence_check.reason.code == "licence.valid"
    assert stamp.licence_check.reason.code == "licence.other_signature"


@pytest.mark.parametrize("where", ["later-info", "later-xmp", "later-xmp-attribute",
                                   "signed-xmp"])
def test_a_foreign_sealed_pdf_claiming_a_licence_fails_naming_it(
        verify_env: VerifyEnv, other: ForeignPKI, where: str) -> None:
    identifier = verify_env.issue()[0]
    if where == "signed-xmp":
        forged = other.sign(_with_xmp(approval_pdf(1), identifier))
    else:
        signed = other.sign(approval_pdf(1))
        forged = _with_xmp(signed, identifier, attribute=where.endswith("attribute")) \
            if "xmp" in where else _rewrite_info(signed, generic.TextStringObject(identifier))
    report = verify_env.verify(forged)
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.licence is None
    licence = checks_of(report)["licence"]
    assert licence.reason.code == "licence.not_issued_file"
    assert licence.sub_indication is SubIndication.FORMAT_FAILURE
    assert identifier in licence.reason.en and identifier in licence.reason.zh


def test_offline_the_licence_named_is_the_signed_revisions_own(verify_env: VerifyEnv) -> None:
    identifier, pdf = verify_env.issue()
    other = _another(verify_env)
    forged = _rewrite_info(pdf, generic.TextStringObject(other))
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        offline = Verifier(services.verifier.examiner, seals=services.verifier.seals,
                           licences=None)
        report = offline.verify_pdf(forged, at=utcnow())
    licence = checks_of(report)["licence"]
    assert licence.reason.code == "licence.offline"
    assert identifier in licence.reason.en and other not in licence.reason.en
