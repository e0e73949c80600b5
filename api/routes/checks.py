"""Certificate-free checks for intake systems; service items; uses seen by issuers."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.registry.checks import Caller, CheckRequest
from zhengyin.registry.errors import RegistryError
from zhengyin.registry.models import LicenceCheck

from ..deps import ReadServicesDep, RuntimeDep, ServicesDep, require
from ..problems import NotFoundError
from ..ratelimit import RateLimiter
from ..runtime import Services
from ..schemas.checks import CheckCreate, CheckRead, LicenceUseRead, ServiceItemRead, UseCopyCreate
from ..schemas.inputs import Cursor, JsonObject, Line

router = APIRouter(tags=["checks"])

Intake = Annotated[Principal, require(Scope.CHECKS_RUN)]
ItemAdmin = Annotated[Principal, require(Scope.ITEMS_MANAGE)]
UseReader = Annotated[Principal, require(Scope.USES_READ)]


@cache
def _limiter(per_minute: int) -> RateLimiter:
    return RateLimiter(per_minute)


@router.put("/admin/service-items", operation_id="define_service_items",
            response_model=list[ServiceItemRead])
def define_service_items(
    services: ServicesDep, caller: ItemAdmin,
    items: Annotated[list[JsonObject], Body(description="service item definitions")],
) -> list[ServiceItemRead]:
    """Create or replace service items (事项) and what each may receive."""
    at = utcnow()
    return [ServiceItemRead.of(services.service_items.define(item, at=at, actor=caller.actor))
            for item in items]


@router.get("/service-items", operation_id="list_service_items",
            response_model=list[ServiceItemRead])
def list_service_items(services: ReadServicesDep, _caller: Intake) -> list[ServiceItemRead]:
    """Every service item, with its materials and receivable fields."""
    return [ServiceItemRead.of(item) for item in services.service_items.all()]


@router.post("/checks", operation_id="run_check", response_model=CheckRead)
async def run_check(body: CheckCreate, runtime: RuntimeDep, caller: Intake) -> Response:
    """Ask, with the holder's consent or use code, whether they hold what the item needs.

    Without a valid consent or code the answer is a 403 that says nothing about the
    holder. Every licence disclosed is a use record; the answer carries a signed receipt.
    """
    _limiter(runtime.settings.check_rate_per_minute).check(caller.client_id)
    request = CheckRequest(
        holder_kind=body.holder_kind, holder_code=body.holder_code, item_code=body.item_code,
        case_number=body.case_number, purpose=body.purpose, consent_id=body.consent_id,
        use_code=body.use_code, materials=tuple(body.materials) if body.materials else None)
    asking = Caller(client_id=caller.client_id, client_name=caller.name, actor=caller.actor)
    return Response(await runtime.checks.run(request, asking), media_type="application/json")


def _own_check(services: Services, check_id: str, caller: Principal) -> LicenceCheck:
    check = services.uses.check_of(check_id, client_id=caller.client_id)
    if check is None:
        raise NotFoundError(f"no check {check_id!r}")
    return check


@router.get("/checks/{check_id}/receipt", operation_id="get_check_receipt",
            responses={200: {"content": {"application/jose": {}}}})
def get_check_receipt(check_id: str, services: ReadServicesDep, caller: Intake) -> Response:
    """The signed receipt of one of this client's checks (compact JWS)."""
    return Response(_own_check(services, check_id, caller).receipt,
                    media_type="application/jose")


@router.post("/checks/{check_id}/use-copies", operation_id="make_use_copy",
             responses={200: {"content": {"application/pdf": {}}}})
def make_use_copy(check_id: str, body: UseCopyCreate, services: ServicesDep,
                  caller: Intake) -> Response:
    """A use-copy (加注件) of a licence this check disclosed, sealed by the platform.

    It shows only the fields the check disclosed (the rest redacted, not merely
    covered), attaches the original only where the service item allows it, and names
    the licence, so verifying the copy reports the licence's status now.
    """
    copy = services.use_copies.make(check_id, body.identifier, client_id=caller.client_id,
                                    client_name=caller.name, actor=caller.actor, at=utcnow())
    return Response(copy.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{copy.file_name}"'})


@router.get("/uses", operation_id="list_licence_uses", response_model=list[LicenceUseRead])
def list_licence_uses(
    services: ReadServicesDep, caller: UseReader,
    identifier: Line | None = None,
    after: Annotated[Cursor, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[LicenceUseRead]:
    """Uses of licences: an issuer sees its own licences', an administrator all."""
    issuer_code = None
    if caller.role is not ClientRole.ADMIN:
        if caller.org_credit_code is None:
            raise RegistryError("this client acts for no organisation")
        issuer_code = caller.org_credit_code
    rows = services.uses.page(issuer_code=issuer_code, identifier=identifier, after=after,
                              limit=limit)
    return [LicenceUseRead.of(row) for row in rows]


