"""Tables of the platform: API clients and the audit log (entries, outbox, head, checkpoints)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, BigId, JSONDocument, UTCDateTime, str_enum

__all__ = [
    "ApiClient",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "AuditOutboxRecord",
    "ClientRole",
    "ClientStatus",
]


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
