"""Tables of the trust layer: certificates, CRL state, API clients and the audit log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, JSONDocument, UTCDateTime, str_enum

__all__ = [
    "ApiClient",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "AuditOutboxRecord",
    "CRLState",
    "CertificateRecord",
    "CertificateRole",
    "CertificateStatus",
    "ClientRole",
    "ClientStatus",
    "RevocationReason",
    "ServiceIdentity",
    "TrustAnchor",
    "TrustAnchorStatus",
]

# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


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


class ClientRole(enum.StrEnum):
    """What an API client is: each role grants a fixed set of scopes."""

    ISSUER = "issuer"
    STAMPER = "stamper"
    INTAKE = "intake"
    VERIFIER = "verifier"
    ADMIN = "admin"


class ClientStatus(enum.StrEnum):
    """Whether a client may authenticate."""

    ACTIVE = "active"
    DISABLED = "disabled"


class ApiClient(Base):
    """A system that calls the API; only a hash of its secret is kept."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[ClientRole] = mapped_column(str_enum(ClientRole))
    org_credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[ClientStatus] = mapped_column(
        str_enum(ClientStatus), default=ClientStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class _AuditContent:
    """What an audit record says, the same in the outbox and in the chain."""

    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(160))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument)


class AuditEntry(_AuditContent, Base):
    """One append-only, hash-chained audit record."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_entries_object", "object_type", "object_id"),
        Index("ix_audit_entries_actor_seq", "actor", "seq"),
    )


class AuditOutboxRecord(_AuditContent, Base):
    """An audit record committed with its business transaction, not yet in the chain.

    Writers insert here (no lock); the sequencer moves records into ``audit_entries`` in
    ``id`` order, a batch per head-row lock, and deletes them in the same transaction.
    """

    __tablename__ = "audit_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class AuditHead(Base):
    """The single row that serialises appends and remembers the chain's tip."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signature by the service's audit key over the chain tip at ``seq``.

    One is signed at every multiple of the interval (``ZHENGYIN_AUDIT_CHECKPOINT_EVERY``)
    by whoever links that entry, under the chain head's lock, so exactly one exists per
    interval; ``zhengyin audit checkpoint`` signs the tip on request as well.
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    certificate_serial: Mapped[str] = mapped_column(String(48))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    every: Mapped[int | None] = mapped_column(BigInteger)
    """The interval in force, signed (0: signed on request); NULL: a version 1 checkpoint."""
    prev: Mapped[int | None] = mapped_column(BigInteger)
    """The checkpoint before this one (0: none), signed; NULL: a version 1 checkpoint."""


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
