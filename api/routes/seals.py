"""The seal registry: create, read, suspend, resume, revoke, authorise; the seal-use log.

Administrators (``seals:manage``) configure seals; stampers and issuers (``seals:read``)
see only the seals they are authorised to use. Seal images are not public: a seal's
picture is what a forged printout would copy, and nothing outside the service needs it
(a verifier checks the signature and the certificate, never the picture).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.signing.models import Seal, SealStatus
from zhengyin.signing.uselog import SealUseFilter

from ..deps import ReadServicesDep, RuntimeDep, ServicesDep, require
from ..runtime import Services
from ..schemas.inputs import Cursor, Instant, Line
from ..schemas.seals import (
    SealAuthorise,
    SealCreate,
    SealRead,
    SealRevoke,
    SealStatusChange,
    SealUsePage,
    SealUseRead,
)

router = APIRouter(tags=["seals"])

SealsAdmin = Annotated[Principal, require(Scope.SEALS_MANAGE)]
SealsReader = Annotated[Principal, require(Scope.SEALS_READ)]
UsesReader = Annotated[Principal, require(Scope.USES_READ)]

def _manages(caller: Principal) -> bool:
    return Scope.SEALS_MANAGE in caller.scopes


def visible_seal(services: Services, seal_id: str, caller: Principal, *,
                 used: bool = False) -> Seal:
    """The seal, if the caller manages seals or may use this one (else: not found)."""
    return services.seals.get_for(seal_id, client_id=None if _manages(caller)
                                  else caller.client_id, used=used)


def seal_read(services: Services, seal: Seal, caller: Principal) -> SealRead:
    """The response body for one seal."""
    record = services.seals.certificate_of(seal)
    clients = services.seals.authorised_clients(seal.id) if _manages(caller) else None
    return SealRead.of(seal, serial=record.serial_hex, clients=clients)


@router.post("/seals", operation_id="create_seal", status_code=201, response_model=SealRead)
def create_seal(body: SealCreate, services: ServicesDep, caller: SealsAdmin) -> SealRead:
    """Create a seal: code, image (generated or uploaded PNG), key and certificate."""
    seal = services.seals.create(body.to_request(), at=utcnow(), actor=caller.actor)
    return seal_read(services, seal, caller)


@router.get("/seals", operation_id="list_seals", response_model=list[SealRead])
def list_seals(services: ReadServicesDep, caller: SealsReader,
               org_credit_code: Line | None = None,
               status: SealStatus | None = None) -> list[SealRead]:
    """Seals (administrators: all; others: those they may use)."""
    client = None if _manages(caller) else caller.client_id
    seals = services.seals.search(org_credit_code=org_credit_code, client_id=client,
                                  status=status)
    return [seal_read(services, seal, caller) for seal in seals]


@router.get("/seals/{seal_id}", operation_id="get_seal", response_model=SealRead)
def get_seal(seal_id: str, services: ReadServicesDep, caller: SealsReader) -> SealRead:
    """One seal."""
    return seal_read(services, visible_seal(services, seal_id, caller), caller)


@router.get("/seals/{seal_id}/image.png", operation_id="get_seal_image",
            response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def get_seal_image(seal_id: str, services: ReadServicesDep, caller: SealsReader) -> Response:
    """The seal's transparent PNG (600 dpi)."""
    seal = visible_seal(services, seal_id, caller)
    return Response(seal.image_png, media_type="image/png",
                    headers={"ETag": f'"{seal.image_sha256}"',
                             "Cache-Control": "private, max-age=3600"})


@router.post("/seals/{seal_id}/suspend", operation_id="suspend_seal", response_model=SealRead)
def suspend_seal(seal_id: str, body: SealStatusChange, services: ServicesDep,
                 caller: SealsAdmin) -> SealRead:
    """Stop a seal from stamping until it is resumed."""
    seal = services.seals.suspend(seal_id, reason=body.reason, at=utcnow(), actor=caller.actor)
    return seal_read(services, seal, caller)


@router.post("/seals/{seal_id}/resume", operation_id="resume_seal", response_model=SealRead)
def resume_seal(seal_id: str, body: SealStatusChange, services: ServicesDep,
                caller: SealsAdmin) -> SealRead:
    """Let a suspended seal stamp again."""
    seal = services.seals.resume(seal_id, reason=body.reason, at=utcnow(), actor=caller.actor)
    return seal_read(services, seal, caller)


@router.post("/seals/{seal_id}/revoke", operation_id="revoke_seal", response_model=SealRead)
def revoke_seal(seal_id: str, body: SealRevoke, services: ServicesDep,
                caller: SealsAdmin) -> SealRead:
    """Retire a seal for good; its certificate is revoked (CRL and OCSP show it)."""
    seal = services.seals.revoke(seal_id, reason=body.reason, at=utcnow(), actor=caller.actor,
                                 key_compromised=body.key_compromised)
    return seal_read(services, seal, caller)


@router.post("/seals/{seal_id}/clients", operation_id="authorise_seal_client",
             response_model=SealRead)
def authorise_client(seal_id: str, body: SealAuthorise, services: ServicesDep,
                     caller: SealsAdmin) -> SealRead:
    """Allow a client to stamp with the seal (idempotent)."""
    services.seals.authorise(seal_id, body.client_id, at=utcnow(), actor=caller.actor)
    return seal_read(services, services.seals.get(seal_id), caller)


@router.delete("/seals/{seal_id}/clients/{client_id}", operation_id="deauthorise_seal_client",
               response_model=SealRead)
def deauthorise_client(seal_id: str, client_id: str, services: ServicesDep,
                       caller: SealsAdmin) -> SealRead:
    """Withdraw a client's right to stamp with the seal."""
    services.seals.deauthorise(seal_id, client_id, at=utcnow(), actor=caller.actor)
    return seal_read(services, services.seals.get(seal_id), caller)


def _use_filter(seal_id: str, caller: Principal, case_number: str | None,
                since: datetime | None, until: datetime | None) -> SealUseFilter:
    # Without seals:manage a caller reads only the uses it made itself.
    client = None if _manages(caller) else caller.client_id
    return SealUseFilter(seal_id=seal_id, client_id=client, case_number=case_number,
                         since=since, until=until)


@router.get("/seals/{seal_id}/uses", operation_id="list_seal_uses", response_model=SealUsePage)
def list_seal_uses(
    seal_id: str,
    services: ReadServicesDep,
    caller: UsesReader,
    case_number: Line | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    after: Annotated[Cursor, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SealUsePage:
    """The seal's uses (用印记录), keyset-paged, filtered by case number and time."""
    visible_seal(services, seal_id, caller, used=True)
    uses = services.seal_uses.page(_use_filter(seal_id, caller, case_number, since, until),
                                   after_id=after, limit=limit + 1)
    uses, more = uses[:limit], len(uses) > limit
    return SealUsePage(uses=[SealUseRead.of(use) for use in uses],
                       next_after=uses[-1].id if more else None)


@router.get("/seals/{seal_id}/uses.csv", operation_id="export_seal_uses",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def export_seal_uses(
    seal_id: str,
    runtime: RuntimeDep,
    services: ReadServicesDep,
    caller: UsesReader,
    case_number: Line | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> StreamingResponse:
    """Every matching use as CSV, streamed in batches."""
    seal = visible_seal(services, seal_id, caller, used=True)
    where = _use_filter(seal_id, caller, case_number, since, until)

    def rows() -> Iterator[str]:
        # The request's unit of work is closed once the route returns: stream from our own.
        with runtime.unit_of_work(readonly=True) as own:
            yield from own.seal_uses.csv_rows(where)

    return StreamingResponse(
        rows(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="seal-{seal.seal_code}-uses.csv"'},
    )
