"""A holder's own licences: list, read, download (holder token, not a client credential)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from zhengyin.core.clock import utcnow
from zhengyin.registry.holders import Holder, HolderKind, normalise_holder
from zhengyin.registry.licences import Reader
from zhengyin.registry.lifecycle import effective_status
from zhengyin.registry.models import Licence
from zhengyin.registry.receipts import DISPLAY_TYP, display_payload
from zhengyin.registry.sealing import LicenceSealer
from zhengyin.registry.statuslists import status_list_uri

from ..deps import HolderDep, ReadServicesDep, RuntimeDep, ServicesDep
from ..holders import HolderIdentity
from ..runtime import Runtime, Services
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
from .licences import licence_read, licence_reads, pdf_response

router = APIRouter(prefix="/holder", tags=["holder"])


ForHolder = Annotated[Line | None, Query(
    alias="for", max_length=32,
    description="act for this principal: the caller must hold a valid, unexpired agent "
                "grant from it (403 otherwise); every such access is audited")]


def acting_as(services: Services, holder: HolderIdentity, for_holder: str | None,
              at: datetime, *, access: str) -> Holder:
    """The holder acted for: oneself, or a principal that granted this holder agency
    (checked and audited by the registry; 403 ``agent.not_authorised`` otherwise)."""
    if not _for_other(holder, for_holder):
        return Holder(holder.holder_kind, holder.holder_code)
    assert for_holder is not None
    return services.consents.act_for(holder.holder_code, for_holder, access=access, at=at,
                                     actor=holder.actor)


def _for_other(holder: HolderIdentity, for_holder: str | None) -> bool:
    return bool(for_holder and for_holder.strip().upper() != holder.holder_code)


@contextmanager
def reading_as(runtime: Runtime, holder: HolderIdentity, for_holder: str | None, *,
               access: str) -> Iterator[tuple[Services, Holder]]:
    """A unit of work for a holder's read and the holder it reads for: read-only for
    oneself; for a principal it writes the audit entry of the agent's access."""
    agent = _for_other(holder, for_holder)
    with runtime.unit_of_work(readonly=not agent) as services:
        yield services, acting_as(services, holder, for_holder, utcnow(), access=access)


@router.get("/licences", operation_id="holder_list_licences", response_model=list[LicenceRead])
def holder_list_licences(holder: HolderDep, runtime: RuntimeDep,
                         for_holder: ForHolder = None) -> list[LicenceRead]:
    """Every licence version the holder (or its principal) holds; a holder has few."""
    with reading_as(runtime, holder, for_holder, access="licences.list") as (services, subject):
        at = utcnow()
        rows = services.licences.page(Reader(holder_code=subject.code), limit=500)
        return licence_reads(services, rows, at)


@router.get("/licences/{identifier}", operation_id="holder_get_licence",
            response_model=LicenceRead)
def holder_get_licence(identifier: str, holder: HolderDep, runtime: RuntimeDep,
                       for_holder: ForHolder = None) -> LicenceRead:
    """One of the holder's (or its principal's) licences; another's is 'not found'."""
    with reading_as(runtime, holder, for_holder, access="licence.read") as (services, subject):
        licence = services.licences.get(identifier, Reader(holder_code=subject.code))
        return licence_read(services, licence, utcnow())


@router.get("/licences/{identifier}/pdf", operation_id="holder_get_licence_pdf",
            responses={200: {"content": {"application/pdf": {}}}})
def holder_get_licence_pdf(identifier: str, holder: HolderDep, services: ServicesDep,
                           for_holder: ForHolder = None) -> Response:
    """The holder's (or its principal's) sealed licence PDF; the download is audited."""
    at = utcnow()
    subject = acting_as(services, holder, for_holder, at, access="licence.pdf")
    licence = services.licences.get(identifier, Reader(holder_code=subject.code))
    services.issuance.ensure_sealed(licence, at=at)
    services.audit.append(actor=holder.actor, action="licence.downloaded",
                          object_type="licence", object_id=licence.identifier, at=at,
                          details={"by": "holder" if subject.code == holder.holder_code
                                   else "agent"})
    return pdf_response(services, licence)


# --------------------------------------------------------------------------- consent & use


@router.get("/consents", operation_id="holder_list_consents", response_model=list[ConsentRead])
def holder_list_consents(holder: HolderDep, runtime: RuntimeDep,
                         for_holder: ForHolder = None) -> list[ConsentRead]:
    """The holder's consents, newest first."""
    with reading_as(runtime, holder, for_holder, access="consents.list") as (services, subject):
        return [ConsentRead.of(c) for c in services.consents.consents_of(subject.code)]


@router.post("/consents", operation_id="holder_grant_consent", status_code=201,
             response_model=ConsentRead)
def holder_grant_consent(body: ConsentCreate, holder: HolderDep, services: ServicesDep,
                         for_holder: ForHolder = None) -> ConsentRead:
    """Consent that an intake client (or any) may check this holder for one item."""
    at = utcnow()
    subject = acting_as(services, holder, for_holder, at, access="consent.grant")
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
    subject = acting_as(services, holder, for_holder, at, access="consent.withdraw")
    return ConsentRead.of(services.consents.withdraw(consent_id, subject.code, at=at,
                                                     actor=holder.actor))


@router.post("/use-codes", operation_id="holder_create_use_code", status_code=201,
             response_model=UseCodeRead)
def holder_create_use_code(body: UseCodeCreate, holder: HolderDep, services: ServicesDep,
                           for_holder: ForHolder = None) -> UseCodeRead:
    """A one-time use code (用证码) for one service item, valid for minutes."""
    at = utcnow()
    subject = acting_as(services, holder, for_holder, at, access="use_code.create")
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
def holder_list_uses(holder: HolderDep, runtime: RuntimeDep,
                     after: Annotated[Cursor, Query()] = 0,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     for_holder: ForHolder = None) -> list[LicenceUseRead]:
    """Every use of the holder's (or its principal's) licences: who, for what, which
    fields, when."""
    with reading_as(runtime, holder, for_holder, access="uses.list") as (services, subject):
        rows = services.uses.of_holder(subject.code, after=after, limit=limit)
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
        status_list=(status_list_uri(runtime.settings.public_base_url, licence.status_list_id),
                     licence.status_list_index)
        if licence.status_list_id is not None and licence.status_list_index is not None
        else None,
    )
    signer = services.registry_signer()
    return signer.sign(payload, typ=DISPLAY_TYP, embed_chain=False), at + lifetime


def display_url(services: Services, token: str) -> str:
    """The public page a display QR code opens."""
    return f"{services.runtime.settings.public_base_url.rstrip('/')}/v/q?t={token}"
