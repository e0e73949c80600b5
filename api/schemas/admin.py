"""Request and response bodies of the administration API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zhengyin.core.models import ApiClient, ClientRole, ClientStatus
from zhengyin.keys import KeyAlgorithm, KeyInfo
from zhengyin.trust.models import (
    CertificateRecord,
    CertificateRole,
    CertificateStatus,
    RevocationReason,
)

from .inputs import Instant, Line

__all__ = [
    "AuditEntryRead",
    "AuditPage",
    "AuditVerifyRead",
    "CertificateIssue",
    "CertificateRead",
    "ClientCreate",
    "ClientCredentialRead",
    "ClientRead",
    "KeyCreate",
    "KeyRead",
    "RevokeRequest",
]


class ClientCreate(BaseModel):
    """A new API client."""

    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=128)
    role: ClientRole
    org_credit_code: Line | None = Field(default=None, max_length=18,
                                         description="required for issuer/stamper")


class ClientRead(BaseModel):
    """An API client (never its secret)."""

    id: str
    name: str
    role: ClientRole
    org_credit_code: str | None
    status: ClientStatus
    created_at: datetime
    rotated_at: datetime | None
    disabled_at: datetime | None

    @classmethod
    def of(cls, client: ApiClient) -> ClientRead:
        """From the table row."""
        return cls(
            id=client.id, name=client.name, role=client.role,
            org_credit_code=client.org_credit_code, status=client.status,
            created_at=client.created_at, rotated_at=client.rotated_at,
            disabled_at=client.disabled_at,
        )


class ClientCredentialRead(BaseModel):
    """A credential, returned exactly once."""

    client: ClientRead
    credential: str = Field(description="zy.<client id>.<secret>; store it now, it is not kept")


class KeyCreate(BaseModel):
    """A key to generate in the key store."""

    model_config = ConfigDict(extra="forbid")

    algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
    label: Line = Field(min_length=1, max_length=128)


class KeyRead(BaseModel):
    """A key's metadata; there is no way to read a private key."""

    handle: str
    label: str
    algorithm: KeyAlgorithm
    created_at: datetime | None
    disabled: bool
    pdf_verifiable: bool = Field(description="false for Ed25519: pdfsig 22.12 cannot verify it")

    @classmethod
    def of(cls, info: KeyInfo) -> KeyRead:
        """From the key store's metadata."""
        return cls(
            handle=str(info.handle), label=info.label, algorithm=info.algorithm,
            created_at=info.created_at, disabled=info.disabled,
            pdf_verifiable=info.algorithm.pdf_verifiable,
        )


class SealCertificateIssue(BaseModel):
    """Certificate for an organisation seal; a new key is generated in the store."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["seal"]
    org_name: Line = Field(min_length=1, max_length=200)
    credit_code: Line = Field(max_length=18)
    seal_name: Line = Field(min_length=1, max_length=64)
    seal_code: str | None = Field(default=None, pattern=r"^\d{13}$")
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
    not_after: Instant | None = None


class PersonCertificateIssue(BaseModel):
    """Certificate for a person's signature; a new key is generated in the store."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["person"]
    name: Line = Field(min_length=1, max_length=64)
    id_number: Line = Field(min_length=18, max_length=18)
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
    not_after: Instant | None = None


CertificateIssue = Annotated[
    SealCertificateIssue | PersonCertificateIssue, Field(discriminator="kind")
]


class CertificateRead(BaseModel):
    """A certificate we issued."""

    serial: str
    role: CertificateRole
    subject: str
    org_credit_code: str | None
    key_handle: str
    not_before: datetime
    not_after: datetime
    status: CertificateStatus
    revoked_at: datetime | None
    revocation_reason: RevocationReason | None
    pem: str

    @classmethod
    def of(cls, record: CertificateRecord) -> CertificateRead:
        """From the table row."""
        import base64
        import textwrap

        body = "\n".join(textwrap.wrap(base64.b64encode(record.der).decode("ascii"), 64))
        return cls(
            serial=record.serial_hex, role=record.role, subject=record.subject,
            org_credit_code=record.org_credit_code, key_handle=record.key_handle,
            not_before=record.not_before, not_after=record.not_after, status=record.status,
            revoked_at=record.revoked_at, revocation_reason=record.revocation_reason,
            pem=f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n",
        )


class RevokeRequest(BaseModel):
    """Why a certificate is revoked (RFC 5280 reason)."""

    model_config = ConfigDict(extra="forbid")

    reason: RevocationReason = RevocationReason.UNSPECIFIED


class AuditEntryRead(BaseModel):
    """One audit entry."""

    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    """A keyset page of audit entries."""

    entries: list[AuditEntryRead]
    next_after: int | None = Field(description="pass as ?after= for the next page")


class AuditVerifyRead(BaseModel):
    """The chain verified: what was checked."""

    entries: int
    checkpoints: int
    last_seq: int
    last_hash: str
    pending: int = Field(description="committed records not yet linked into the chain")
    oldest_pending_at: datetime | None
    last_checkpoint: int = Field(description="entry of the newest signed checkpoint (0: none)")
    interval: int = Field(description="a signed checkpoint is required every this many entries")
    not_checkpointed: int = Field(
        description="entries after the newest checkpoint, whose checkpoint is not yet due")
