"""Administration: API clients, keys, certificates and the audit log."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.keys import KeyHandle
from zhengyin.trust.models import CertificateRole

from ..deps import ReadServicesDep, RuntimeDep, ServicesDep, require
from ..schemas.admin import (
    AuditEntryRead,
    AuditPage,
    AuditVerifyRead,
    CertificateIssue,
    CertificateRead,
    ClientCreate,
    ClientCredentialRead,
    ClientRead,
    KeyCreate,
    KeyRead,
    PersonCertificateIssue,
    RevokeRequest,
)
from ..schemas.inputs import Cursor, Line

router = APIRouter(prefix="/admin", tags=["admin"])

ClientsAdmin = Annotated[Principal, require(Scope.CLIENTS_MANAGE)]
KeysAdmin = Annotated[Principal, require(Scope.KEYS_MANAGE)]
PKIAdmin = Annotated[Principal, require(Scope.PKI_MANAGE)]
AuditReader = Annotated[Principal, require(Scope.AUDIT_READ)]


@router.post("/clients", operation_id="add_client", status_code=201,
             response_model=ClientCredentialRead)
def add_client(body: ClientCreate, services: ServicesDep, caller: ClientsAdmin
               ) -> ClientCredentialRead:
    """Add a client; its credential is in this response and nowhere else."""
    issued = services.clients.add(name=body.name, role=body.role,
                                  org_credit_code=body.org_credit_code, at=utcnow(),
                                  actor=caller.actor)
    return ClientCredentialRead(client=ClientRead.of(issued.client), credential=issued.credential)


@router.get("/clients", operation_id="list_clients", response_model=list[ClientRead])
def list_clients(services: ReadServicesDep, _caller: ClientsAdmin) -> list[ClientRead]:
    """Every client."""
    return [ClientRead.of(client) for client in services.clients.list()]


@router.post("/clients/{client_id}/disable", operation_id="disable_client",
             response_model=ClientRead)
def disable_client(client_id: str, services: ServicesDep, caller: ClientsAdmin) -> ClientRead:
    """Disable a client at once."""
    return ClientRead.of(services.clients.disable(client_id, at=utcnow(), actor=caller.actor))


@router.post("/clients/{client_id}/rotate", operation_id="rotate_client",
             response_model=ClientCredentialRead)
def rotate_client(client_id: str, services: ServicesDep, caller: ClientsAdmin
                  ) -> ClientCredentialRead:
    """Replace a client's secret; the old credential stops working."""
    issued = services.clients.rotate(client_id, at=utcnow(), actor=caller.actor)
    return ClientCredentialRead(client=ClientRead.of(issued.client), credential=issued.credential)


@router.get("/keys", operation_id="list_keys", response_model=list[KeyRead])
def list_keys(runtime: RuntimeDep, _caller: KeysAdmin) -> list[KeyRead]:
    """Keys in the key store (metadata only)."""
    return [KeyRead.of(info) for info in runtime.keystore.list()]


@router.post("/keys", operation_id="create_key", status_code=201, response_model=KeyRead)
def create_key(body: KeyCreate, services: ServicesDep, caller: KeysAdmin) -> KeyRead:
    """Generate a key in the key store."""
    return KeyRead.of(services.keys.generate(body.algorithm, body.label, at=utcnow(),
                                             actor=caller.actor))


@router.post("/keys/{handle}/disable", operation_id="disable_key", response_model=KeyRead)
def disable_key(handle: str, services: ServicesDep, caller: KeysAdmin) -> KeyRead:
    """Forbid further signatures with a key (a disabled key stays disabled: 200, no
    second audit entry)."""
    return KeyRead.of(services.keys.disable(KeyHandle.parse(handle), at=utcnow(),
                                            actor=caller.actor))


@router.post("/certificates", operation_id="issue_certificate", status_code=201,
             response_model=CertificateRead)
def issue_certificate(body: CertificateIssue, services: ServicesDep, caller: PKIAdmin
                      ) -> CertificateRead:
    """Generate a key and issue a seal or person certificate for it."""
    at = utcnow()
    label = body.seal_name if body.kind == "seal" else f"person {body.name}"
    handle = services.keys.generate(body.algorithm, label, at=at, actor=caller.actor).handle
    not_after = body.not_after.astimezone(UTC) if body.not_after else None
    if isinstance(body, PersonCertificateIssue):
        issued = services.pki.issue_person_certificate(
            handle=handle, name=body.name, id_number=body.id_number, not_before=at,
            not_after=not_after, at=at, actor=caller.actor,
        )
    else:
        issued = services.pki.issue_seal_certificate(
            handle=handle, org_name=body.org_name, credit_code=body.credit_code,
            seal_name=body.seal_name, seal_code=body.seal_code, not_before=at,
            not_after=not_after, at=at, actor=caller.actor,
        )
    return CertificateRead.of(services.pki.record(issued.serial_hex))


@router.get("/certificates", operation_id="list_certificates",
            response_model=list[CertificateRead])
def list_certificates(
    services: ReadServicesDep,
    _caller: PKIAdmin,
    role: CertificateRole | None = None,
    after_id: Annotated[Cursor, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CertificateRead]:
    """Issued certificates, keyset-paged by row id."""
    rows = services.pki.records(role=role, after_id=after_id, limit=limit)
    return [CertificateRead.of(row) for row in rows]


@router.post("/certificates/{serial}/revoke", operation_id="revoke_certificate",
             response_model=CertificateRead)
def revoke_certificate(serial: str, body: RevokeRequest, services: ServicesDep,
                       caller: PKIAdmin) -> CertificateRead:
    """Revoke a certificate; CRLs and OCSP report it from now on.

    A seal's certificate revokes the seal with it (and revoking a seal revokes its
    certificate): either order ends with both revoked, each recorded once. Revoking
    again with the same reason changes nothing.
    """
    record = services.seals.revoke_certificate(serial, reason=body.reason, at=utcnow(),
                                               actor=caller.actor)
    return CertificateRead.of(record)


@router.get("/audit/entries", operation_id="list_audit_entries", response_model=AuditPage)
def list_audit_entries(
    services: ReadServicesDep,
    _caller: AuditReader,
    after: Annotated[Cursor, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    object_type: Line | None = None,
    object_id: Line | None = None,
) -> AuditPage:
    """Audit entries in sequence order, keyset-paged."""
    rows = services.audit.entries(after=after, limit=limit + 1, object_type=object_type,
                                  object_id=object_id)
    rows, more = rows[:limit], len(rows) > limit
    entries = [AuditEntryRead.model_validate(row, from_attributes=True) for row in rows]
    return AuditPage(entries=entries, next_after=rows[-1].seq if more else None)


@router.post("/audit/verify", operation_id="verify_audit", response_model=AuditVerifyRead)
def verify_audit(services: ReadServicesDep, _caller: AuditReader) -> AuditVerifyRead:
    """Recompute the chain and the checkpoint signatures (409 names the first broken entry)."""
    result = services.audit_keys.verify_chain(
        every=services.runtime.settings.audit_checkpoint_every)
    return AuditVerifyRead(entries=result.entries, checkpoints=result.checkpoints,
                           last_seq=result.last_seq, last_hash=result.last_hash,
                           pending=result.pending, oldest_pending_at=result.oldest_pending_at,
                           last_checkpoint=result.last_checkpoint, interval=result.interval,
                           not_checkpointed=result.not_checkpointed)
