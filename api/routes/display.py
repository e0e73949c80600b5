"""Online check of a licence display QR code (亮证): the page a scan opens, and its JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from registry.errors import LicenceNotFoundError
from registry.receipts import verify_display
from trust.db import utcnow
from trust.jws import JWSError

from ..deps import ReadServicesDep, RuntimeDep
from ..pages import render
from ..ratelimit import RateLimiter
from ..runtime import Services

router = APIRouter(tags=["public"])
_limiter = RateLimiter(600, burst=60)


class DisplayCheckRead(BaseModel):
    """What a display code asserts, checked, and the licence's status now."""

    valid: bool = Field(description="signature and chain verify, and the code has not expired")
    reason: str | None = None
    identifier: str | None = None
    type_name: str | None = None
    printed_number: str | None = None
    holder_name: str | None = None
    status_as_of_issue: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    status_now: str | None = Field(default=None, description="from the registry, online")


def check_display(services: Services, token: str, *, now: datetime) -> DisplayCheckRead:
    """Verify a display token and look the licence up now."""
    try:
        runtime = services.runtime
        payload: dict[str, Any] = verify_display(token, runtime.signer_trust(services), now=now)
    except JWSError as exc:
        return DisplayCheckRead(valid=False, reason=exc.message)
    try:
        status_now = services.licences.public_status(str(payload["id"]), at=now).status.value
    except LicenceNotFoundError:
        status_now = None
    return DisplayCheckRead(
        valid=True, identifier=payload["id"], type_name=payload.get("t"),
        printed_number=payload.get("n"), holder_name=payload.get("h"),
        status_as_of_issue=payload.get("s"),
        issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC), status_now=status_now,
    )


@router.get("/public/display", operation_id="public_check_display",
            response_model=DisplayCheckRead)
def public_check_display(request: Request, services: ReadServicesDep,
                         t: str = Query(max_length=8192, description="the display token")
                         ) -> DisplayCheckRead:
    """Check a display code (JSON)."""
    _limiter.check(request.client.host if request.client else "?")
    return check_display(services, t, now=utcnow())


@router.get("/v/q", operation_id="display_page", response_class=HTMLResponse,
            include_in_schema=False)
def display_page(request: Request, runtime: RuntimeDep, services: ReadServicesDep,
                 t: str = Query(default="", max_length=8192)) -> HTMLResponse:
    """The page a display QR code opens: verdict and the licence's status now."""
    _limiter.check(request.client.host if request.client else "?")
    result = check_display(services, t, now=utcnow())
    return render(request, "display.html", result=result,
                  status_code=200 if result.valid else 400)
