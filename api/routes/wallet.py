"""The holder's web wallet: licences, downloads, display QR, consents and uses (Chinese).

Signing in takes the holder token (production: the OIDC provider's; development: one
from ``zhengyin holder token``) and keeps it in an HttpOnly, SameSite=Strict cookie
scoped to /wallet. Every state change is a POST carrying a CSRF token bound to a second
cookie, and goes through the same services as the holder API.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zhengyin.core.clock import beijing_date, utcnow
from zhengyin.core.errors import AuthenticationError
from zhengyin.core.privacy import mask_id_number
from zhengyin.registry.holders import Holder
from zhengyin.registry.licences import Reader
from zhengyin.registry.lifecycle import effective_status
from zhengyin.registry.models import Licence

from ..deps import RuntimeDep
from ..forms import StrictFormRoute
from ..holders import HolderIdentity
from ..pages import csrf_token, new_secret, render, valid_csrf
from ..pages.statuses import action_name, status_view
from ..runtime import Runtime, Services
from ..schemas.inputs import Line
from .holder import display_token, display_url
from .licences import pdf_response

router = APIRouter(prefix="/wallet", include_in_schema=False, route_class=StrictFormRoute)

_TOKEN_COOKIE = "zy_holder"  # noqa: S105 - a cookie name, not a secret
_CSRF_COOKIE = "zy_csrf"


class _SignedOutError(Exception):
    pass


def _holder(request: Request, runtime: Runtime) -> HolderIdentity:
    token = request.cookies.get(_TOKEN_COOKIE)
    if not token:
        raise _SignedOutError
    try:
        with runtime.unit_of_work(readonly=True) as services:
            return runtime.holder_tokens.verify(services, token)
    except AuthenticationError:
        raise _SignedOutError from None


def _csrf(request: Request) -> str:
    return csrf_token(request.cookies.get(_CSRF_COOKIE, ""))


def _page(request: Request, runtime: Runtime, template: str, **context: Any) -> Response:
    try:
        holder = _holder(request, runtime)
    except _SignedOutError:
        return RedirectResponse("/wallet/login", status_code=303)
    return render(request, template, holder=holder, masked=_masked(holder), csrf=_csrf(request),
                  **context)


def _masked(holder: HolderIdentity) -> str:
    return holder.holder_code if holder.holder_kind.value == "credit-code" \
        else mask_id_number(holder.holder_code)


def _check_form(request: Request, token: str) -> None:
    if not valid_csrf(request.cookies.get(_CSRF_COOKIE, ""), token):
        raise AuthenticationError("the form expired; reload the page")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """Sign in with a holder token."""
    return render(request, "wallet_login.html")


@router.post("/login")
def login(request: Request, runtime: RuntimeDep, token: Annotated[str, Form()]) -> Response:
    """Check the token and keep it in a cookie."""
    try:
        with runtime.unit_of_work(readonly=True) as services:
            runtime.holder_tokens.verify(services, token.strip())
    except AuthenticationError:
        return render(request, "wallet_login.html", status_code=401,
                      flash="令牌无效或已过期，请重新获取。")
    response = RedirectResponse("/wallet", status_code=303)
    secure = runtime.settings.public_base_url.startswith("https://")
    for name, value in ((_TOKEN_COOKIE, token.strip()), (_CSRF_COOKIE, new_secret())):
        response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure,
                            path="/wallet", max_age=8 * 3600)
    return response


@router.post("/logout")
def logout() -> Response:
    """Forget the token."""
    response = RedirectResponse("/wallet/login", status_code=303)
    for name in (_TOKEN_COOKIE, _CSRF_COOKIE):
        response.delete_cookie(name, path="/wallet")
    return response


@router.get("", response_class=HTMLResponse)
def licences_page(request: Request, runtime: RuntimeDep) -> Response:
    """My licences."""
    try:
        holder = _holder(request, runtime)
    except _SignedOutError:
        return RedirectResponse("/wallet/login", status_code=303)
    today = beijing_date(utcnow())
    with runtime.unit_of_work(readonly=True) as services:
        rows = [_row(services, licence, today) for licence in services.licences.page(
            Reader(holder_code=holder.holder_code), limit=500)]
    return _page(request, runtime, "wallet_licences.html", licences=rows)


def _row(services: Services, licence: Licence, today: date, *, successor: str | None = None
         ) -> dict[str, Any]:
    """One licence as the wallet shows it: its status through the one mapping
    (api/pages/statuses.py), its own validity period."""
    return {"identifier": licence.identifier, "number": licence.printed_number,
            "type": services.licences.licence_type(licence).name,
            "status": status_view(effective_status(licence, today),
                                  valid_until=licence.valid_until, superseded_by=successor),
            "valid_from": licence.valid_from, "valid_until": licence.valid_until,
            "issuer": licence.issuer_name}


@router.get("/licences/{identifier}", response_class=HTMLResponse)
def licence_page(identifier: str, request: Request, runtime: RuntimeDep) -> Response:
    """One of my licences: its status first, what it means, its validity and history."""
    try:
        holder = _holder(request, runtime)
    except _SignedOutError:
        return RedirectResponse("/wallet/login", status_code=303)
    at = utcnow()
    with runtime.unit_of_work(readonly=True) as services:
        licence = services.licences.get(identifier, Reader(holder_code=holder.holder_code))
        public = services.licences.public_status(licence.identifier, at=at)
        row = _row(services, licence, beijing_date(at), successor=public.superseded_by)
        events = [{"action": action_name(event.action.value), "at": event.effective_at,
                   "status": status_view(event.to_status).name,
                   # The expiry job writes a fixed English note; the action says it all.
                   "reason": None if event.action.value == "expired" else event.reason,
                   "legal_basis": event.legal_basis}
                  for event in services.licences.history(licence)]
    return _page(request, runtime, "wallet_licence.html", licence=row, events=events[::-1],
                 checked_at=at)


@router.get("/licences/{identifier}/pdf")
def download(identifier: str, request: Request, runtime: RuntimeDep) -> Response:
    """Download my sealed licence PDF (audited)."""
    try:
        holder = _holder(request, runtime)
    except _SignedOutError:
        return RedirectResponse("/wallet/login", status_code=303)
    at = utcnow()
    with runtime.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(holder_code=holder.holder_code))
        services.issuance.ensure_sealed(licence, at=at)
        services.audit.append(actor=holder.actor, action="licence.downloaded",
                              object_type="licence", object_id=licence.identifier, at=at,
                              details={"by": "holder", "via": "wallet"})
        return pdf_response(services, licence)


@router.get("/licences/{identifier}/qr", response_class=HTMLResponse)
def display(identifier: str, request: Request, runtime: RuntimeDep) -> Response:
    """A display QR code (亮证) for one licence, valid for minutes."""
    try:
        holder = _holder(request, runtime)
    except _SignedOutError:
        return RedirectResponse("/wallet/login", status_code=303)
    at = utcnow()
    with runtime.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(holder_code=holder.holder_code))
        token, expires = display_token(services, licence, at)
        url = display_url(services, token)
        services.audit.append(actor=holder.actor, action="licence.displayed",
                              object_type="licence", object_id=licence.identifier, at=at,
                              details={"expires_at": expires.isoformat(), "via": "wallet"})
        row = _row(services, licence, beijing_date(at))
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return _page(request, runtime, "wallet_qr.html", licence=row, image=image, url=url,
                 expires=expires)


@router.get("/consents", response_class=HTMLResponse)
def consents_page(request: Request, runtime: RuntimeDep) -> Response:
    """My consents, and a form to grant one."""
    try:
        holder = _holder(request, runtime)
    except _SignedOutError:
        return RedirectResponse("/wallet/login", status_code=303)
    now = datetime.now(UTC)
    with runtime.unit_of_work(readonly=True) as services:
        consents = services.consents.consents_of(holder.holder_code)
        items = services.service_items.all()
        names = {item.code: item.name for item in items}
        rows = [{"id": c.id, "item": names.get(c.item_code, c.item_code),
                 "client": c.client_id or "任一受理系统", "case": c.case_number or "—",
                 "expires_at": c.expires_at,
                 "active": c.withdrawn_at is None and c.expires_at > now} for c in consents]
    return _page(request, runtime, "wallet_consents.html", consents=rows,
                 items=[(item.code, item.name) for item in items])


@router.post("/consents")
def grant(request: Request, runtime: RuntimeDep, item_code: Annotated[Line, Form(max_length=64)],
          csrf: Annotated[Line, Form()], days: Annotated[int, Form(ge=1, le=3660)] = 7,
          case_number: Annotated[Line, Form(max_length=64)] = "") -> Response:
    """Grant a consent for one service item."""
    return _change(request, runtime, csrf, lambda services, holder, at: services.consents.grant(
        Holder(holder.holder_kind, holder.holder_code), item_code=item_code, client_id=None,
        case_number=case_number.strip() or None, expires_at=at + timedelta(days=days), at=at,
        actor=holder.actor))


@router.post("/consents/{consent_id}/withdraw")
def withdraw(consent_id: str, request: Request, runtime: RuntimeDep,
             csrf: Annotated[str, Form()]) -> Response:
    """Withdraw a consent."""
    return _change(request, runtime, csrf, lambda services, holder, at: services.consents
                   .withdraw(consent_id, holder.holder_code, at=at, actor=holder.actor))


def _change(request: Request, runtime: Runtime, csrf: str, action: object) -> Response:
    try:
        holder = _holder(request, runtime)
        _check_form(request, csrf)
    except (_SignedOutError, AuthenticationError):
        return RedirectResponse("/wallet/login", status_code=303)
    with runtime.unit_of_work() as services:
        action(services, holder, utcnow())  # type: ignore[operator]
    return RedirectResponse("/wallet/consents", status_code=303)


@router.get("/uses", response_class=HTMLResponse)
def uses_page(request: Request, runtime: RuntimeDep) -> Response:
    """Every use of my licences."""
    try:
        holder = _holder(request, runtime)
    except _SignedOutError:
        return RedirectResponse("/wallet/login", status_code=303)
    with runtime.unit_of_work(readonly=True) as services:
        uses = services.uses.of_holder(holder.holder_code, limit=200)
    return _page(request, runtime, "wallet_uses.html", uses=uses)

