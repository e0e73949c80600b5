"""Licences for issuing departments and administrators: issue, read, change status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import Response as RawResponse

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.registry.licences import Reader
from zhengyin.registry.lifecycle import ChangeRequest
from zhengyin.registry.models import Licence

from ..deps import ReadServicesDep, ServicesDep, require
from ..problems import ForbiddenError
from ..runtime import Services
from ..schemas.inputs import Cursor, Instant, Line
from ..schemas.registry import (
    LicenceCreate,
    LicenceEventRead,
    LicencePage,
    LicenceRead,
    NewVersionBody,
    RevokeBody,
    StatusAtRead,
    TransitionBody,
)

router = APIRouter(prefix="/licences", tags=["licences"])

Issuer = Annotated[Principal, require(Scope.LICENCES_ISSUE)]
Manager = Annotated[Principal, require(Scope.LICENCES_MANAGE)]
LicenceReader = Annotated[Principal, require(Scope.LICENCES_READ)]


def reader_of(principal: Principal) -> Reader:
    """What a client may read: administrators everything, issuers their organisation's."""
    if principal.role is ClientRole.ADMIN:
        return Reader(everything=True)
    return Reader(issuer_code=principal.org_credit_code)


def party_of(principal: Principal) -> IssuingParty:
    """The issuing organisation a client acts for."""
    if principal.org_credit_code is None:
        raise ForbiddenError(f"client {principal.name!r} acts for no organisation")
    return IssuingParty(org_code=principal.org_credit_code, client_id=principal.client_id,
                        actor=principal.actor)


def licence_read(services: Services, licence: Licence, at: datetime) -> LicenceRead:
    """The response body of one licence."""
    return licence_reads(services, [licence], at)[0]


def licence_reads(services: Services, licences: Sequence[Licence], at: datetime
                  ) -> list[LicenceRead]:
    """The response bodies of a page of licences (a fixed number of queries per page)."""
    return [LicenceRead.listed(listing) for listing in services.licences.listed(licences, at=at)]


@router.post("", operation_id="issue_licence", status_code=201, response_model=LicenceRead,
             responses={200: {"description": "a retry with the same Idempotency-Key"}})
def issue_licence(
    body: LicenceCreate,
    response: Response,
    services: ServicesDep,
    caller: Issuer,
    idempotency_key: Annotated[Line | None, Header(max_length=128)] = None,
) -> LicenceRead:
    """Issue a licence: validated, identified, rendered, sealed (B-T), stored, committed.

    With ``Idempotency-Key`` a retry returns the first result; the same key with a
    different body is a 409.
    """
    at = utcnow()
    outcome = services.issuance.issue(
        IssueRequest(
            type_code=body.type_code.upper(), holder_kind=body.holder_kind,
            holder_code=body.holder_code, holder_name=body.holder_name, fields=body.fields,
            valid_from=body.valid_from, valid_until=body.valid_until,
            printed_number=body.printed_number,
        ),
        party_of(caller), at=at, idempotency_key=idempotency_key,
    )
    if outcome.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/licences/{outcome.licence.identifier}"
    return licence_read(services, outcome.licence, at)


@router.get("", operation_id="list_licences", response_model=LicencePage)
def list_licences(
    services: ReadServicesDep,
    caller: LicenceReader,
    holder_code: Line | None = None,
    type_code: Line | None = None,
    issuer_code: Line | None = None,
    after: Annotated[Cursor, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LicencePage:
    """Licences by holder, type or issuer, in issue order, keyset-paged."""
    at = utcnow()
    rows = services.licences.page(reader_of(caller), holder_code=holder_code,
                                  type_code=type_code, issuer_code=issuer_code,
                                  after_id=after, limit=limit + 1)
    rows, more = rows[:limit], len(rows) > limit
    return LicencePage(licences=licence_reads(services, rows, at),
                       next_after=rows[-1].id if more else None)


@router.get("/{identifier}", operation_id="get_licence", response_model=LicenceRead)
def get_licence(identifier: str, services: ReadServicesDep, caller: LicenceReader
                ) -> LicenceRead:
    """One licence by identifier."""
    return licence_read(services, services.licences.get(identifier, reader_of(caller)),
                        utcnow())


@router.get("/{identifier}/pdf", operation_id="get_licence_pdf",
            responses={200: {"content": {"application/pdf": {}}}})
def get_licence_pdf(identifier: str, services: ServicesDep, caller: LicenceReader
                    ) -> RawResponse:
    """The sealed PDF (sealed now if it was imported without one)."""
    licence = services.licences.get(identifier, reader_of(caller))
    services.issuance.ensure_sealed(licence, at=utcnow())
    return pdf_response(services, licence)


def pdf_response(services: Services, licence: Licence) -> RawResponse:
    """A licence PDF as a download named ``<identifier>.pdf``."""
    assert licence.pdf_sha256 is not None
    data = services.runtime.file_store.get(licence.pdf_sha256)
    return RawResponse(content=data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{licence.identifier}.pdf"',
        "ETag": f'"{licence.pdf_sha256}"',
    })


@router.get("/{identifier}/history", operation_id="get_licence_history",
            response_model=list[LicenceEventRead])
def get_licence_history(identifier: str, services: ReadServicesDep, caller: LicenceReader
                        ) -> list[LicenceEventRead]:
    """Every change of this version: who, when, why, effective when."""
    licence = services.licences.get(identifier, reader_of(caller))
    return [LicenceEventRead.of(event) for event in services.licences.history(licence)]


@router.get("/{identifier}/status", operation_id="get_licence_status_at",
            response_model=StatusAtRead)
def get_licence_status_at(identifier: str, services: ReadServicesDep, caller: LicenceReader,
                          at: Instant | None = None) -> StatusAtRead:
    """The status at a moment (default now): "what was the status on date D?"."""
    moment = (at if at and at.tzinfo else (at.replace(tzinfo=UTC) if at else utcnow()))
    licence = services.licences.get(identifier, reader_of(caller))
    return StatusAtRead(identifier=licence.identifier, at=moment,
                        status=services.licences.status_at(licence, moment))


def _own(services: Services, identifier: str, caller: Principal) -> Licence:
    """A licence the calling issuer's organisation issued (admins cannot change status)."""
    return services.licences.get(identifier, Reader(issuer_code=caller.org_credit_code))


@router.post("/{identifier}/suspend", operation_id="suspend_licence",
             response_model=LicenceRead)
def suspend_licence(identifier: str, body: TransitionBody, services: ServicesDep,
                    caller: Manager) -> LicenceRead:
    """暂扣."""
    licence = _own(services, identifier, caller)
    at = utcnow()
    services.lifecycle.suspend(licence, reason=body.reason, legal_basis=body.legal_basis,
                               effective_at=body.effective_at, at=at, actor=caller.actor)
    return licence_read(services, licence, at)


@router.post("/{identifier}/lift-suspension", operation_id="lift_licence_suspension",
             response_model=LicenceRead)
def lift_suspension(identifier: str, body: TransitionBody, services: ServicesDep,
                    caller: Manager) -> LicenceRead:
    """解除暂扣."""
    licence = _own(services, identifier, caller)
    at = utcnow()
    services.lifecycle.lift_suspension(licence, reason=body.reason,
                                       effective_at=body.effective_at, at=at, actor=caller.actor)
    return licence_read(services, licence, at)


@router.post("/{identifier}/report-lost", operation_id="report_licence_lost",
             response_model=LicenceRead)
def report_lost(identifier: str, body: TransitionBody, services: ServicesDep,
                caller: Manager) -> LicenceRead:
    """挂失."""
    licence = _own(services, identifier, caller)
    at = utcnow()
    services.lifecycle.report_lost(licence, reason=body.reason, effective_at=body.effective_at,
                                   at=at, actor=caller.actor)
    return licence_read(services, licence, at)


@router.post("/{identifier}/withdraw-loss", operation_id="withdraw_licence_loss",
             response_model=LicenceRead)
def withdraw_loss(identifier: str, body: TransitionBody, services: ServicesDep,
                  caller: Manager) -> LicenceRead:
    """解除挂失."""
    licence = _own(services, identifier, caller)
    at = utcnow()
    services.lifecycle.withdraw_loss(licence, reason=body.reason,
                                     effective_at=body.effective_at, at=at, actor=caller.actor)
    return licence_read(services, licence, at)


@router.post("/{identifier}/revoke", operation_id="revoke_licence", response_model=LicenceRead)
def revoke_licence(identifier: str, body: RevokeBody, services: ServicesDep,
                   caller: Manager) -> LicenceRead:
    """注销 / 吊销 / 撤销."""
    licence = _own(services, identifier, caller)
    at = utcnow()
    services.lifecycle.revoke(licence, kind=body.kind, reason_code=body.reason_code,
                              reason=body.reason, legal_basis=body.legal_basis,
                              effective_at=body.effective_at, at=at, actor=caller.actor)
    return licence_read(services, licence, at)


@router.post("/{identifier}/change", operation_id="change_licence", status_code=201,
             response_model=LicenceRead)
def change_licence(identifier: str, body: NewVersionBody, services: ServicesDep,
                   caller: Manager) -> LicenceRead:
    """变更: a new version with new content; the current version is superseded."""
    licence = _own(services, identifier, caller)
    at = utcnow()
    successor = services.lifecycle.change(
        licence, ChangeRequest(fields=body.fields, holder_name=body.holder_name),
        reason=body.reason, party=party_of(caller), at=at)
    return licence_read(services, successor, at)


@router.post("/{identifier}/renew", operation_id="renew_licence", status_code=201,
             response_model=LicenceRead)
def renew_licence(identifier: str, body: NewVersionBody, services: ServicesDep,
                  caller: Manager) -> LicenceRead:
    """延续: a new version with a new validity period."""
    licence = _own(services, identifier, caller)
    at = utcnow()
    successor = services.lifecycle.renew(
        licence, ChangeRequest(fields=body.fields, holder_name=body.holder_name,
                               valid_from=body.valid_from, valid_until=body.valid_until),
        reason=body.reason, party=party_of(caller), at=at)
    return licence_read(services, successor, at)
