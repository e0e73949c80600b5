"""A holder's own licences: list, read, download (holder token, not a client credential)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select

from registry.holders import Holder, HolderKind, normalise_holder
from registry.licences import Reader
from registry.lifecycle import effective_status
from registry.models import Licence, LicenceUse
from registry.receipts import DISPLAY_TYP, display_payload
from registry.sealing import LicenceSealer
from trust.db import utcnow

from ..deps import HolderDep, ReadServicesDep, ServicesDep
from ..holders import HolderIdentity
from ..problems import ForbiddenError
from ..runtime import Services
from ..schemas.checks import (
    AgentGrantCreate,
    AgentGrantRead,
    ConsentCreate,
    ConsentRead,
    DisplayRead,
    LicenceUseRead,
    UseCodeCreate,
    UseCodeRead,
)
from ..schemas.inputs import Cursor, Line
from ..schemas.registry import LicenceRead
from .licences import licence_read, pdf_response

router = APIRouter(prefix="/holder", tags=["holder"])


@router.get("/licences", operation_id="holder_list_licences", response_model=list[LicenceRead])
def holder_list_licences(holder: HolderDep, services: ReadServicesDep) -> list[LicenceRead]:
    """Every licence version the holder holds (a holder has few; no paging needed)."""
    at = utcnow()
    rows = services.licences.page(Reader(holder_code=holder.holder_code), limit=500)
    return [licence_read(services, row, at) for row in rows]


@router.get("/licences/{identifier}", operation_id="holder_get_licence",
            response_model=LicenceRead)
def holder_get_licence(identifier: str, holder: HolderDep, services: ReadServicesDep
                       ) -> LicenceRead:
    """One of the holder's licences; another holder's is 'not found'."""
    licence = services.licences.get(identifier, Reader(holder_code=holder.holder_code))
    return licence_read(services, licence, utcnow())


@router.get("/licences/{identifier}/pdf", operation_id="holder_get_licence_pdf",
            responses={200: {"content": {"application/pdf": {}}}})
def holder_get_licence_pdf(identifier: str, holder: HolderDep, services: ServicesDep
                           ) -> Response:
    """The holder's sealed licence PDF; the download is audited."""
    at = utcnow()
    licence = services.licences.get(identifier, Reader(holder_code=holder.holder_code))
    services.issuance.ensure_sealed(licence, at=at)
    services.audit.append(actor=holder.actor, action="licence.downloaded",
                          object_type="licence", object_id=licence.identifier, at=at,
                          details={"by": "holder"})
    return pdf_response(services, licence)


# --------------------------------------------------------------------------- consent & use


def acting_as(services: Services, holder: HolderIdentity, for_holder: str | None,
              at: datetime) -> Holder:
    """The holder acted for: oneself, or a principal that granted this holder agency."""
    if not for_holder or for_holder == holder.holder_code:
        return Holder(holder.holder_kind, holder.holder_code)
    for grant in services.consents.principals_of(holder.holder_code, at=at):
        if grant.principal_code == for_holder.strip().upper():
            return Holder(HolderKind(grant.principal_kind), grant.principal_code)
    raise ForbiddenError("you are not an agent of that holder")


ForHolder = Annotated[Line | None, Query(alias="for", description="act for this principal "
                                        "(an agent grant is needed)")]


@router.get("/consents", operation_id="holder_list_consents", response_model=list[ConsentRead])
def holder_list_consents(holder: HolderDep, services: ReadServicesDep,
                         for_holder: ForHolder = None) -> list[ConsentRead]:
    """The holder's consents, newest first."""
    subject = acting_as(services, holder, for_holder, utcnow())
    return [ConsentRead.of(c) for c in services.consents.consents_of(subject.code)]


@router.post("/consents", operation_id="holder_grant_consent", status_code=201,
             response_model=ConsentRead)
def holder_grant_consent(body: ConsentCreate, holder: HolderDep, services: ServicesDep,
                         for_holder: ForHolder = None) -> ConsentRead:
    """Consent that an intake client (or any) may check this holder for one item."""
    at = utcnow()
    subject = acting_as(services, holder, for_holder, at)
    consent = services.consents.grant(subject, item_code=body.item_code,
                                      client_id=body.client_id, case_number=body.case_number,
                                      expires_at=body.expires_at, at=at, actor=holder.actor)
    return ConsentRead.of(consent)


@router.post("/consents/{consent_id}/withdraw", operation_id="holder_withdraw_consent",
             response_model=ConsentRead)
def holder_withdraw_consent(consent_id: str, holder: HolderDep, services: ServicesDep,
                            for_holder: ForHolder = None) -> ConsentRead:
    """Withdraw a consent at once."""
    at = utcnow()
    subject = acting_as(services, holder, for_holder, at)
    return ConsentRead.of(services.consents.withdraw(consent_id, subject.code, at=at,
                                                     actor=holder.actor))


@router.post("/use-codes", operation_id="holder_create_use_code", status_code=201,
             response_model=UseCodeRead)
def holder_create_use_code(body: UseCodeCreate, holder: HolderDep, services: ServicesDep,
                           for_holder: ForHolder = None) -> UseCodeRead:
    """A one-time use code (用证码) for one service item, valid for minutes."""
    at = utcnow()
    subject = acting_as(services, holder, for_holder, at)
    row, code = services.consents.create_use_code(subject, item_code=body.item_code, at=at,
                                                  actor=holder.actor)
    return UseCodeRead(code=code, item_code=row.item_code, expires_at=row.expires_at)


@router.get("/agents", operation_id="holder_list_agents", response_model=list[AgentGrantRead])
def holder_list_agents(holder: HolderDep, services: ReadServicesDep) -> list[AgentGrantRead]:
    """Agents this holder has authorised."""
    return [AgentGrantRead.of(g) for g in services.consents.agents_of(holder.holder_code)]


@router.post("/agents", operation_id="holder_grant_agent", status_code=201,
             response_model=AgentGrantRead)
def holder_grant_agent(body: AgentGrantCreate, holder: HolderDep, services: ServicesDep
                       ) -> AgentGrantRead:
    """Let a person act for this holder (create consents and use codes)."""
    at = utcnow()
    agent = normalise_holder(HolderKind.CITIZEN_ID, body.agent_code, field="agent_code")
    grant = services.consents.grant_agent(Holder(holder.holder_kind, holder.holder_code),
                                          agent_code=agent.code, expires_at=body.expires_at,
                                          at=at, actor=holder.actor)
    return AgentGrantRead.of(grant)


@router.post("/agents/{grant_id}/revoke", operation_id="holder_revoke_agent", status_code=204)
def holder_revoke_agent(grant_id: str, holder: HolderDep, services: ServicesDep) -> Response:
    """End an agent's authority."""
    services.consents.revoke_agent(grant_id, holder.holder_code, at=utcnow(), actor=holder.actor)
    return Response(status_code=204)


@router.get("/uses", operation_id="holder_list_uses", response_model=list[LicenceUseRead])
def holder_list_uses(holder: HolderDep, services: ReadServicesDep,
                     after: Annotated[Cursor, Query()] = 0,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[LicenceUseRead]:
    """Every use of the holder's licences: who, for what, which fields, when."""
    rows = services.session.scalars(
        select(LicenceUse).where(LicenceUse.holder_code == holder.holder_code)
        .where(LicenceUse.id > after).order_by(LicenceUse.id.desc()).limit(limit))
    return [LicenceUseRead.of(row) for row in rows]


@router.post("/licences/{identifier}/display", operation_id="holder_display_licence",
             response_model=DisplayRead)
def holder_display_licence(identifier: str, holder: HolderDep, services: ServicesDep
                           ) -> DisplayRead:
    """A short-lived signed display code (亮证) for one licence, shown as a QR code."""
    at = utcnow()
    licence = services.licences.get(identifier, Reader(holder_code=holder.holder_code))
    token, expires = display_token(services, licence, at)
    services.audit.append(actor=holder.actor, action="licence.displayed", object_type="licence",
                          object_id=licence.identifier, at=at,
                          details={"expires_at": expires.isoformat()})
    return DisplayRead(token=token, url=display_url(services, token), expires_at=expires)


def display_token(services: Services, licence: Licence, at: datetime) -> tuple[str, datetime]:
    """Sign a display payload for ``licence`` (as of ``at``)."""
    runtime = services.runtime
    lifetime = timedelta(minutes=runtime.settings.display_qr_minutes)
    licence_type = services.licences.licence_type(licence)
    payload = display_payload(
        identifier=licence.identifier, type_name=licence_type.name,
        printed_number=licence.printed_number, holder_name=licence.holder_name,
        status=effective_status(licence, LicenceSealer.today(at)).value,
        valid_until=licence.valid_until.isoformat() if licence.valid_until else None,
        at=at, lifetime=lifetime,
    )
    signer = runtime.registry_signer(services)
    return signer.sign(payload, typ=DISPLAY_TYP, embed_chain=False), at + lifetime


def display_url(services: Services, token: str) -> str:
    """The public page a display QR code opens."""
    return f"{services.runtime.settings.public_base_url.rstrip('/')}/v/q?t={token}"
