"""Tables of the signing layer: seals, who may use them, every use, batch jobs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhengyin.core.db import Base, BigId, JSONDocument, UTCDateTime, str_enum
from zhengyin.trust.models import CertificateRecord

__all__ = [
    "Seal",
    "SealAuthorisation",
    "SealCodeCounter",
    "SealStatus",
    "SealType",
    "SealUse",
    "SignatureLevel",
    "StampJob",
    "StampJobStatus",
]


class SealType(enum.StrEnum):
    """Kinds of seals (GB/T 38540 seal type 1 = unit, 2 = personal)."""

    OFFICIAL = "official"                   # 公章
    APPROVAL = "approval"                   # 审批专用章
    CONTRACT = "contract"                   # 合同专用章
    FINANCE = "finance"                     # 财务专用章
    LEGAL_REPRESENTATIVE = "legal-representative"  # 法定代表人名章
    PERSONAL = "personal"                   # 个人签名

    @property
    def purpose_text(self) -> str:
        """The line printed under the star ('' for the official seal)."""
        return {
            SealType.OFFICIAL: "",
            SealType.APPROVAL: "审批专用章",
            SealType.CONTRACT: "合同专用章",
            SealType.FINANCE: "财务专用章",
            SealType.LEGAL_REPRESENTATIVE: "",
            SealType.PERSONAL: "",
        }[self]

    @property
    def is_personal(self) -> bool:
        """Personal signatures and name seals belong to a person, not to a unit."""
        return self in (SealType.PERSONAL, SealType.LEGAL_REPRESENTATIVE)


class SealStatus(enum.StrEnum):
    """Lifecycle of a seal; revoked is final and revokes the certificate."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class SignatureLevel(enum.StrEnum):
    """PAdES baseline levels."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


class Seal(Base):
    """An electronic seal: organisation, type, code, image, key and certificate."""

    __tablename__ = "seals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seal_code: Mapped[str] = mapped_column(String(13), unique=True)
    seal_type: Mapped[SealType] = mapped_column(str_enum(SealType))
    name: Mapped[str] = mapped_column(String(200))
    org_name: Mapped[str] = mapped_column(String(200))
    org_credit_code: Mapped[str] = mapped_column(String(18), index=True)
    region_code: Mapped[str] = mapped_column(String(6))
    holder_name: Mapped[str | None] = mapped_column(String(64))
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    image_sha256: Mapped[str] = mapped_column(String(64))
    key_handle: Mapped[str] = mapped_column(String(128))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[SealStatus] = mapped_column(str_enum(SealStatus), default=SealStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Read-only: a seal's certificate changes by setting certificate_id (rekeying).
    certificate: Mapped[CertificateRecord] = relationship(viewonly=True)


class SealCodeCounter(Base):
    """Next seal-code sequence number per region (codes are region + 7 digits)."""

    __tablename__ = "seal_code_counters"

    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer, default=1)


class SealAuthorisation(Base):
    """A client allowed to stamp with a seal."""

    __tablename__ = "seal_authorisations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("api_clients.id"), index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    granted_by: Mapped[str] = mapped_column(String(160))

    __table_args__ = (UniqueConstraint("seal_id", "client_id"),)


class SealUse(Base):
    """One stamp (用印记录): who used which seal, when, for what, on which bytes."""

    __tablename__ = "seal_uses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"))
    client_id: Mapped[str | None] = mapped_column(ForeignKey("api_clients.id"))
    actor: Mapped[str] = mapped_column(String(160))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    case_number: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(200))
    document_name: Mapped[str | None] = mapped_column(String(255))
    input_sha256: Mapped[str] = mapped_column(String(64))
    output_sha256: Mapped[str] = mapped_column(String(64), index=True)
    field_name: Mapped[str] = mapped_column(String(64))
    level: Mapped[SignatureLevel] = mapped_column(str_enum(SignatureLevel))
    placement: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)

    __table_args__ = (Index("ix_seal_uses_seal_at", "seal_id", "at"),)


class StampJobStatus(enum.StrEnum):
    """State of a batch job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class StampJob(Base):
    """A batch of PDFs stamped with one seal."""

    __tablename__ = "stamp_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"), index=True)
    client_id: Mapped[str | None] = mapped_column(ForeignKey("api_clients.id"), index=True)
    status: Mapped[StampJobStatus] = mapped_column(str_enum(StampJobStatus))
    total: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    output_path: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process running the job and when it last said it was alive: a queued or running
    # job whose heartbeat is older than the lease belongs to a process that has died.
    runner: Mapped[str | None] = mapped_column(String(96))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_stamp_jobs_status_heartbeat", "status", "heartbeat_at"),)
