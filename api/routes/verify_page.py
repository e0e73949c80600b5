"""The public verification page (no sign-in), in Chinese.

* ``GET /verify``: upload a sealed PDF or type a licence identifier;
* ``POST /verify``: the verdict of an uploaded PDF, green / red / amber, with signer,
  organisation, seal image, signing time, licence status and every reason;
* ``GET /v/{identifier}``: a licence's verdict and status (licence PDFs print this URL as
  their QR code; ``/v/q`` is the holder's display code, issue 5);
* ``GET /verify/reports/{token}.pdf|.json``: the report just shown, sealed by the
  platform or as JSON, for 15 minutes (kept in the database, so that any worker process
  answers the links: api/keptreports.py).

Uploads are limited in size (``ZHENGYIN_PUBLIC_VERIFY_MAX_BYTES``) and each client IP in
rate (``ZHENGYIN_PUBLIC_VERIFY_PER_MINUTE``); the file is examined in a worker under time
and memory limits and is not kept.
"""

from __future__ import annotations

import base64
import functools
import io
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from zhengyin.core.clock import utcnow
from zhengyin.trust.validation import CheckStatus, Indication, VerificationError, VerificationReport
from zhengyin.trust.validation.report import CHECK_NAMES_ZH

from ..deps import ReadServicesDep, ServicesDep
from ..forms import StrictFormRoute
from ..pages import render
from ..pages.statuses import Tone, status_view
from ..problems import ApiError, NotFoundError
from ..runtime import Services
from ..schemas.inputs import Line
from ..schemas.verify import VerificationReportRead
from .verify import read_upload

router = APIRouter(tags=["pages"], route_class=StrictFormRoute)

_BANNER = {
    Indication.TOTAL_PASSED: ("passed", "✔ 核验通过",
                              "文件未被篡改，印章有效，签章时印章和证书均处于有效状态。"),
    Indication.TOTAL_FAILED: ("failed", "✘ 核验不通过", "请勿采信此文件：原因见下。"),
    Indication.INDETERMINATE: ("indeterminate", "⚠ 无法确认",
                               "无法确认文件真实有效：原因见下，可联系发文或发证单位核实。"),
}
_TONE = {Indication.TOTAL_PASSED: Tone.GOOD, Indication.TOTAL_FAILED: Tone.BAD,
         Indication.INDETERMINATE: Tone.WARN}
_TONE_CSS = {Tone.GOOD: "passed", Tone.WARN: "indeterminate", Tone.BAD: "failed"}
_STATUS = {CheckStatus.PASSED: ("passed", "通过"), CheckStatus.FAILED: ("failed", "不通过"),
           CheckStatus.INDETERMINATE: ("indeterminate", "无法确定"),
           CheckStatus.NOT_APPLICABLE: ("na", "不适用")}


@functools.lru_cache(maxsize=256)
def _thumbnail(png: bytes) -> str:
    """A small data: URI of a seal image (the page embeds it; CSP allows data: images)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.thumbnail((160, 160))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _check(result: Any, *, page_good: bool) -> dict[str, Any]:
    css, label = _STATUS[result.status]
    if css == "passed" and not page_good:
        css = "passed-plain"  # one part passing is not shown green on a page that is not
    return {"name": CHECK_NAMES_ZH.get(result.check, result.check), "css": css, "label": label,
            "zh": result.reason.zh, "en": result.reason.en,
            "sub": result.sub_indication.value if result.sub_indication else None}


def _signature(item: Any, *, page_good: bool) -> dict[str, Any]:
    evidence, seal = item.evidence, item.seal
    signer = evidence.signer
    css, label, _ = _BANNER[item.verdict.indication]
    if css == "passed" and not page_good:
        css, label = "passed-plain", "此签章本身完整有效"
    return {
        "field": evidence.field,
        "kind": "文档时间戳" if evidence.kind == "document-timestamp" else "电子印章 / 签名",
        "verdict": css, "verdict_label": label,
        "sub": item.verdict.sub_indication.value if item.verdict.sub_indication else None,
        "seal": seal,
        "image": _thumbnail(seal.image_png) if seal and seal.image_png else None,
        "signer": (signer.common_name or signer.subject) if signer else None,
        "organisation": seal.organisation if seal else (signer.organisation if signer
                                                         else None),
        "time": item.signing_time, "proven": item.signing_time_proven,
        "certification": evidence.docmdp,
        "checks": [_check(c, page_good=page_good) for c in item.checks],
        "notes": [{"zh": note.zh, "en": note.en} for note in item.notes],
    }


def view(report: VerificationReport) -> dict[str, Any]:
    """What the template shows, from a report.

    A licence that is not valid now headlines the page with its status (red or amber,
    never green), whatever the verdict on the file; the verdict comes second.
    """
    verdict = report.verdict
    _, title, advice = _BANNER[verdict.indication]
    tone = _TONE[verdict.indication]
    licence, status, verdict_note = report.licence, None, None
    if licence is not None:
        status = status_view(licence.state_now, valid_until=licence.valid_until,
                             superseded_by=licence.superseded_by)
        # A verdict that failed only because of the status now takes the status's tone
        # (a suspension is amber); any other problem keeps the worse of the two.
        only_status = not verdict.passed and bool(verdict.reasons) and all(
            reason.code == f"licence.{status.value}" for reason in verdict.reasons)
        tone = status.tone if only_status else Tone.worst(tone, status.tone)
        if not status.valid:
            verdict_note = f"文件核验结论：{title}"
            title, advice = status.headline, status.explanation
    page_good = tone is Tone.GOOD
    return {
        "css": _TONE_CSS[tone], "title": title, "advice": advice, "verdict_note": verdict_note,
        "indication": verdict.indication.value,
        "sub": verdict.sub_indication.value if verdict.sub_indication else None,
        "reasons": [] if verdict.passed else verdict.reasons[:8],
        "subject": report.subject, "licence": licence, "status": status,
        "document": [_check(c, page_good=page_good) for c in report.document],
        "signatures": [_signature(item, page_good=page_good) for item in report.signatures],
        "verified_at": report.verified_at,
    }


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _page(request: Request, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(request, "verify.html", status_code=status_code, **context)


def _result(request: Request, services: Services, report: VerificationReport,
            *, identifier: str | None = None) -> HTMLResponse:
    with services.writing_unit() as writer:
        token = writer.kept_reports.keep(report, at=utcnow())
    return _page(request, result=view(report), token=token, identifier=identifier)


@router.get("/verify", operation_id="verify_page", response_class=HTMLResponse)
def verify_page(request: Request) -> HTMLResponse:
    """The public verification page: upload a PDF or type an identifier."""
    return _page(request)


@router.post("/verify", operation_id="verify_page_upload", response_class=HTMLResponse)
def verify_page_upload(request: Request, services: ReadServicesDep,
                       file: Annotated[UploadFile, File(description="the sealed PDF")]
                       ) -> HTMLResponse:
    """Verify an uploaded PDF and show the verdict."""
    settings = services.runtime.settings
    try:
        services.runtime.verification.public_limiter.check(_client(request))
        data = read_upload(file, settings.public_verify_max_bytes)
        report = services.verifier.verify_pdf(data, at=utcnow(), file_name=file.filename)
    except (VerificationError, ApiError) as exc:
        from ..problems import status_for

        return _page(request, status_code=status_for(exc), error=exc.message,
                     hint=getattr(exc, "hint", None))
    return _result(request, services, report)


@router.get("/verify/licence", operation_id="verify_page_identifier",
            response_class=RedirectResponse, status_code=303)
def verify_page_identifier(identifier: Annotated[Line, Query(max_length=200)]
                           ) -> RedirectResponse:
    """The identifier form: on to the licence's page."""
    from urllib.parse import quote

    return RedirectResponse(f"/v/{quote(identifier.strip(), safe='')}", status_code=303)


@router.get("/v/{identifier}", operation_id="licence_page", response_class=HTMLResponse)
def licence_page(identifier: str, request: Request, services: ReadServicesDep) -> HTMLResponse:
    """A licence's verdict: its status now and the verdict on the PDF issued for it (the
    URL licence PDFs print as their QR code)."""
    try:
        services.runtime.verification.public_limiter.check(_client(request))
        report = services.verifier.verify_identifier(identifier[:200], at=utcnow())
    except (VerificationError, ApiError) as exc:
        from ..problems import status_for

        return _page(request, status_code=status_for(exc), error=exc.message,
                     hint=getattr(exc, "hint", None))
    status = 404 if report.licence is None else 200
    response = _result(request, services, report, identifier=identifier)
    response.status_code = status
    return response


def _kept(services: Services, token: str) -> VerificationReport:
    report = services.kept_reports.find(token, at=utcnow())
    if report is None:
        raise NotFoundError("no such report (reports are kept for 15 minutes)",
                            hint="verify the document again")
    return report


@router.get("/verify/reports/{token}.json", operation_id="verify_page_report_json",
            response_model=VerificationReportRead)
def verify_page_report_json(token: str, services: ReadServicesDep) -> JSONResponse:
    """The report just shown on the page, as JSON."""
    body = VerificationReportRead.of(_kept(services, token))
    return JSONResponse(body.model_dump(mode="json"), headers={
        "Content-Disposition": 'attachment; filename="verification-report.json"'})


@router.get("/verify/reports/{token}.pdf", operation_id="verify_page_report_pdf",
            response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def verify_page_report_pdf(token: str, services: ServicesDep) -> Response:
    """The report just shown on the page, as a PDF sealed by the platform."""
    report = _kept(services, token)
    pdf = services.runtime.verification.report_pdf(services, report, at=utcnow())
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="verification-report.pdf"'})
