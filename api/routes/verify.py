"""Verification API: a PDF, a licence identifier or a QR payload in, a report out.

``POST /verifications`` (multipart ``file``) answers the JSON report
(``zhengyin.verification/1``, :class:`VerificationReportRead`); a tampered or forged
document is an answer (200, TOTAL-FAILED), not an error. Errors are for what cannot be
verified at all: not a PDF (422), too large (413), beyond the time or memory limit
(422 ``verify.too_complex``), every worker busy (503).

Also here: the signed trust list (public) and the external trust anchors (admin).
Routes are synchronous: pyHanko runs in worker processes or FastAPI's thread pool, never
on the event loop (STYLE §4).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.trust.models import TrustAnchor
from zhengyin.trust.validation import FINAL_POLICY, Verifier
from zhengyin.trust.validation import errors as validation_errors

from ..deps import ReadServicesDep, ServicesDep, require
from ..forms import StrictFormRoute
from ..schemas.verify import (
    QRPayloadBody,
    TrustAnchorCreate,
    TrustAnchorRead,
    VerificationReportRead,
)

router = APIRouter(tags=["verification"], route_class=StrictFormRoute)

VerifyCaller = Annotated[Principal, require(Scope.VERIFY_RUN)]
PKIAdmin = Annotated[Principal, require(Scope.PKI_MANAGE)]

_FILE = File(description="the signed PDF to verify")
_REPORT_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "the report, sealed by the platform"}}


_FinalQuery = Annotated[bool, Query(description=(
    "hold documents sealed elsewhere to the final rule too (only validation data, "
    "document time-stamps and registered seals in reserved fields after a signature); "
    "this service's own seals always are"))]


def _verifier(verifier: Verifier, final: bool) -> Verifier:
    return verifier.with_policy(FINAL_POLICY) if final else verifier


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded bytes, or 413 beyond ``limit`` (read no further than that)."""
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise validation_errors.DocumentTooLargeError(
            f"the file is larger than {limit} bytes",
            hint="verify a smaller file, or ask an administrator to raise the limit")
    return data


@router.post("/verifications", operation_id="verify_pdf",
             response_model=VerificationReportRead)
def verify_pdf(services: ReadServicesDep, _caller: VerifyCaller,
               file: Annotated[UploadFile, _FILE], final: _FinalQuery = False
               ) -> VerificationReportRead:
    """Verify a signed PDF: every signature, the changes after it, chain, revocation at
    the signing time, time-stamp, seal registration and any licence it carries."""
    data = read_upload(file, services.runtime.settings.max_pdf_bytes)
    report = _verifier(services.verifier, final).verify_pdf(data, at=utcnow(),
                                                             file_name=file.filename)
    return VerificationReportRead.of(report)


@router.post("/verifications/report.pdf", operation_id="verify_pdf_report",
             response_class=Response, responses=_REPORT_PDF)
def verify_pdf_report(services: ServicesDep, _caller: VerifyCaller,
                      file: Annotated[UploadFile, _FILE], final: _FinalQuery = False
                      ) -> Response:
    """The same verification, answered as a PDF report sealed by the platform."""
    data = read_upload(file, services.runtime.settings.max_pdf_bytes)
    at = utcnow()
    report = _verifier(services.verifier, final).verify_pdf(data, at=at,
                                                            file_name=file.filename)
    pdf = services.runtime.verification.report_pdf(services, report, at=at)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="verification-report.pdf"',
        "X-Zhengyin-Indication": report.verdict.indication.value})


@router.get("/verifications/licences/{identifier}", operation_id="verify_licence",
            response_model=VerificationReportRead)
def verify_licence(identifier: str, services: ReadServicesDep, _caller: VerifyCaller
                   ) -> VerificationReportRead:
    """A licence's status now, and the verdict on the PDF issued for it."""
    return VerificationReportRead.of(services.verifier.verify_identifier(identifier,
                                                                         at=utcnow()))


@router.post("/verifications/qr", operation_id="verify_qr_payload",
             response_model=VerificationReportRead)
def verify_qr_payload(body: QRPayloadBody, services: ReadServicesDep, _caller: VerifyCaller
                      ) -> VerificationReportRead:
    """A scanned QR code: a licence's verification URL, an identifier or a display code."""
    return VerificationReportRead.of(services.verifier.verify_qr(body.payload, at=utcnow()))


@router.get("/trust-list", operation_id="get_trust_list", response_class=Response,
            responses={200: {"content": {"application/jose": {}},
                             "description": "compact JWS; see docs/verification.md, "
                             "offline verification"}})
def get_trust_list(services: ReadServicesDep) -> Response:
    """The signed trust list: anchors, CRLs and every seal with its status."""
    token = services.runtime.verification.trust_list(services)
    return Response(token, media_type="application/jose",
                    headers={"Cache-Control": "public, max-age=300"})


def _anchor(anchor: TrustAnchor) -> TrustAnchorRead:
    return TrustAnchorRead(sha256=anchor.sha256, subject=anchor.subject,
                           not_before=anchor.not_before, not_after=anchor.not_after,
                           status=anchor.status.value, note=anchor.note,
                           added_at=anchor.added_at, added_by=anchor.added_by,
                           removed_at=anchor.removed_at)


@router.get("/admin/trust-anchors", operation_id="list_trust_anchors",
            response_model=list[TrustAnchorRead])
def list_trust_anchors(services: ReadServicesDep, _caller: PKIAdmin) -> list[TrustAnchorRead]:
    """External roots verification trusts (removed ones included, marked)."""
    return [_anchor(item) for item in services.anchors.all()]


@router.post("/admin/trust-anchors", operation_id="add_trust_anchor", status_code=201,
             response_model=TrustAnchorRead)
def add_trust_anchor(body: TrustAnchorCreate, services: ServicesDep, caller: PKIAdmin
                     ) -> TrustAnchorRead:
    """Trust another authority's root CA for verification."""
    anchor = services.anchors.add(
        body.certificate.encode("ascii", "replace"), note=body.note, at=utcnow(),
        actor=caller.actor)
    return _anchor(anchor)


@router.delete("/admin/trust-anchors/{sha256}", operation_id="remove_trust_anchor",
               response_model=TrustAnchorRead)
def remove_trust_anchor(sha256: str, services: ServicesDep, caller: PKIAdmin
                        ) -> TrustAnchorRead:
    """Stop trusting an external root (kept in the list, marked removed)."""
    return _anchor(services.anchors.remove(
        sha256, at=utcnow(), actor=caller.actor))
