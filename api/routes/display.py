"""Online check of a licence display QR code (亮证): the page a scan opens, and its JSON.

The page headlines the licence's status now (api/pages/statuses.py: green only when
valid); that the display code itself is genuine is secondary, because a genuine code for
a revoked licence proves only that the licence was revoked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from zhengyin.core.clock import utcnow
from zhengyin.core.jose import JWSError
from zhengyin.registry.errors import LicenceNotFoundError
from zhengyin.registry.receipts import verify_display

from ..deps import ReadServicesDep, RuntimeDep
from ..pages import render
from ..pages.statuses import Tone, display_code_problem, status_view
from ..ratelimit import RateLimiter
from ..runtime import Services
from ..schemas.inputs import Line

router = APIRouter(tags=["public"])
_limiter = RateLimiter(600, burst=60)


class DisplayCheckRead(BaseModel):
    """What a display code asserts, checked, and the licence's status now."""

    valid: bool = Field(description="the display code itself verifies (signature, chain, "
                                     "not expired); says nothing about the licence: see "
                                     "licence_valid")
    licence_valid: bool = Field(default=False, description="the code verifies and the "
                                                           "licence is valid now")
    reason: str | None = Field(default=None, description="why the code does not verify")
    reason_zh: str | None = Field(default=None, description="the same, in Chinese")
    identifier: str | None = None
    type_name: str | None = None
    printed_number: str | None = None
    holder_name: str | None = None
    status_as_of_issue: str | None = Field(default=None,
                                           description="the status the code asserts")
    issued_at: datetime | None = Field(default=None, description="when the code was shown")
    expires_at: datetime | None = Field(default=None, description="when the display code "
                                        "expires (minutes; not the licence's validity)")
    status_now: str | None = Field(default=None, description="from the registry, online; "
                                   "null when the registry does not know the licence")
    status_now_zh: str | None = Field(default=None, description="the status now, in Chinese")
    valid_from: date | None = Field(default=None, description="the licence's validity start")
    valid_until: date | None = Field(default=None, description="the licence's validity end "
                                     "(null: 长期有效, or unknown when valid_from is null)")
    superseded_by: str | None = Field(default=None, description="the version that replaced it")


def check_display(services: Services, token: str, *, now: datetime) -> DisplayCheckRead:
    """Verify a display token and look the licence up now."""
    try:
        payload: dict[str, Any] = verify_display(token, services.identities.signer_trust(),
                                                 now=now)
    except JWSError as exc:
        return DisplayCheckRead(valid=False, reason=exc.message,
                                reason_zh=display_code_problem(exc))
    status_now = valid_from = superseded_by = None
    valid_until = date.fromisoformat(payload["u"]) if payload.get("u") else None
    try:
        public = services.licences.public_status(str(payload["id"]), at=now)
    except LicenceNotFoundError:
        pass
    else:
        status_now, superseded_by = public.status.value, public.superseded_by
        valid_from, valid_until = public.valid_from, public.valid_until
    view = status_view(status_now)
    return DisplayCheckRead(
        valid=True, licence_valid=view.valid, identifier=payload["id"],
        type_name=payload.get("t"), printed_number=payload.get("n"),
        holder_name=payload.get("h"), status_as_of_issue=payload.get("s"),
        issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC), status_now=status_now,
        status_now_zh=view.name, valid_from=valid_from, valid_until=valid_until,
        superseded_by=superseded_by,
    )


@router.get("/public/display", operation_id="public_check_display",
            response_model=DisplayCheckRead)
def public_check_display(request: Request, services: ReadServicesDep,
                         t: Annotated[Line, Query(max_length=8192,
                                                  description="the display token")]
                         ) -> DisplayCheckRead:
    """Check a display code (JSON)."""
    _limiter.check(request.client.host if request.client else "?")
    return check_display(services, t, now=utcnow())


@router.get("/v/q", operation_id="display_page", response_class=HTMLResponse,
            include_in_schema=False)
def display_page(request: Request, runtime: RuntimeDep, services: ReadServicesDep,
                 t: Annotated[Line, Query(max_length=8192)] = "") -> HTMLResponse:
    """The page a display QR code opens: the licence's status now, then the code's check."""
    _limiter.check(request.client.host if request.client else "?")
    now = utcnow()
    result = check_display(services, t, now=now)
    status = status_view(result.status_now, valid_until=result.valid_until,
                         superseded_by=result.superseded_by)
    return render(request, "display.html", result=result, status=status,
                  asserted=status_view(result.status_as_of_issue),
                  tone=status.tone if result.valid else Tone.BAD, checked_at=now,
                  status_code=200 if result.valid else 400)
