"""Tables of the trust layer: certificates, service identities, CRL state, trust anchors."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhengyin.core.db import Base, BigId, UTCDateTime, str_enum

__all__ = [
    "CRLState",
    "CertificateRecord",
    "CertificateRole",
    "CertificateStatus",
    "RevocationReason",
    "ServiceIdentity",
    "TrustAnchor",
    "TrustAnchorStatus",
]


class CertificateRole(enum.StrEnum):
    """What a certificate is for."""

    ROOT_CA = "root-ca"
    ISSUING_CA = "issuing-ca"
    OCSP = "ocsp"
    TSA = "tsa"
    SERVICE = "service"
    SEAL = "seal"
    PERSON = "person"


class CertificateStatus(enum.StrEnum):
    """Revocation state of a certificate."""

    VALID = "valid"
    REVOKED = "revoked"


class RevocationReason(enum.StrEnum):
    """RFC 5280 CRLReason values, named as asn1crypto names them."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"


class CertificateRecord(Base):
    """Every certificate our CAs issued, with its key handle and revocation state."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    serial_hex: Mapped[str] = mapped_column(String(48), unique=True)
    role: Mapped[CertificateRole] = mapped_column(str_enum(CertificateRole))
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), index=True)
    subject: Mapped[str] = mapped_column(Text)
    org_credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    key_handle: Mapped[str] = mapped_column(String(128))
    key_sha1: Mapped[str] = mapped_column(String(40), index=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[CertificateStatus] = mapped_column(
        str_enum(CertificateStatus), default=CertificateStatus.VALID
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[RevocationReason | None] = mapped_column(str_enum(RevocationReason))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceIdentity(Base):
    """The current certificate for each service purpose (root, issuing, ocsp, tsa, …)."""

    __tablename__ = "service_identities"

    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))


class CRLState(Base):
    """The last CRL a CA published, reused until it is half-way to its nextUpdate."""

    __tablename__ = "crl_state"

    ca_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    crl_number: Mapped[int] = mapped_column(BigInteger, default=0)
    this_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    der: Mapped[bytes | None] = mapped_column(LargeBinary)
    stale: Mapped[bool] = mapped_column(default=True)


class TrustAnchorStatus(enum.StrEnum):
    """Whether verification trusts an external root."""

    ACTIVE = "active"
    REMOVED = "removed"


class TrustAnchor(Base):
    """An external root CA an administrator told verification to trust (besides ours)."""

    __tablename__ = "trust_anchors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TrustAnchorStatus] = mapped_column(str_enum(TrustAnchorStatus))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(String(160))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(160))
