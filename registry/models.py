"""Tables of the registry: licence types, licences, their history, counters, idempotency."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from zhengyin.core.db import Base, BigId, JSONDocument, UTCDateTime, str_enum

__all__ = [
    "AgentGrant",
    "Consent",
    "IdempotencyRecord",
    "ImportBatch",
    "ImportRowError",
    "Licence",
    "LicenceCheck",
    "LicenceEvent",
    "LicenceStatus",
    "LicenceType",
    "LicenceTypeIssuer",
    "LicenceUse",
    "LicenceUseCopy",
    "SerialCounter",
    "ServiceItem",
    "StatusList",
    "StatusListSlot",
    "TransitionAction",
    "UseCode",
]


class LicenceStatus(enum.StrEnum):
    """A licence's state (STANDARDS §2 status values)."""

    VALID = "valid"            # 有效
    SUSPENDED = "suspended"    # 暂扣
    LOST = "lost"              # 挂失
    EXPIRED = "expired"        # 过期
    REVOKED = "revoked"        # 注销 / 吊销 / 撤销
    SUPERSEDED = "superseded"  # 变更 / 延续: replaced by a newer version


class TransitionAction(enum.StrEnum):
    """What happened to a licence, with the ministry push API's operation code."""

    ISSUED = "issued"
    RENEWED = "renewed"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUSPENSION_LIFTED = "suspension-lifted"
    REPORTED_LOST = "reported-lost"
    LOSS_WITHDRAWN = "loss-withdrawn"
    CHANGED = "changed"
    SUPERSEDED = "superseded"

    @property
    def operation_code(self) -> str:
        """01 new · 02 renewal · 03 suspension · 04 expiry · 05 cancellation/revocation ·
        06 suspension lifted · 07 other · 08 change."""
        return {
            TransitionAction.ISSUED: "01",
            TransitionAction.RENEWED: "02",
            TransitionAction.SUSPENDED: "03",
            TransitionAction.EXPIRED: "04",
            TransitionAction.REVOKED: "05",
            TransitionAction.SUSPENSION_LIFTED: "06",
            TransitionAction.REPORTED_LOST: "07",
            TransitionAction.LOSS_WITHDRAWN: "07",
            TransitionAction.CHANGED: "08",
            TransitionAction.SUPERSEDED: "07",
        }[self]


class LicenceType(Base):
    """One version of a licence type; changing a type adds a version, licences keep theirs."""

    __tablename__ = "licence_types"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(21))
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(default=True)
    name: Mapped[str] = mapped_column(String(100))
    authority_name: Mapped[str] = mapped_column(String(200))
    holder_kinds: Mapped[list[str]] = mapped_column(JSONDocument)
    fields_schema: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    validity: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    number_pattern: Mapped[str | None] = mapped_column(String(100))
    template: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    seal_types: Mapped[list[str]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(160))

    __table_args__ = (
        UniqueConstraint("code", "version"),
        Index("ix_licence_types_code_current", "code", "current"),
    )


class LicenceTypeIssuer(Base):
    """An organisation allowed to issue a licence type (all its versions)."""

    __tablename__ = "licence_type_issuers"

    type_code: Mapped[str] = mapped_column(String(21), primary_key=True)
    issuer_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    issuer_name: Mapped[str] = mapped_column(String(200))


class Licence(Base):
    """One version of one licence: identifier, holder, surface fields, sealed PDF, status."""

    __tablename__ = "licences"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(100), unique=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("licence_types.id"))
    type_code: Mapped[str] = mapped_column(String(21))
    issuer_code: Mapped[str] = mapped_column(String(18))
    issuer_name: Mapped[str] = mapped_column(String(200))
    serial: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    printed_number: Mapped[str] = mapped_column(String(64))
    holder_kind: Mapped[str] = mapped_column(String(32))
    holder_code: Mapped[str] = mapped_column(String(32))
    holder_name: Mapped[str] = mapped_column(String(200))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[LicenceStatus] = mapped_column(str_enum(LicenceStatus))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    signed_sha256: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    """SHA-256 of the issued PDF's signed revision (the bytes the issuing seal's signature
    covers): verification identifies a document as this licence by it, whatever was
    appended later (issue 13 §1). NULL until sealed; for rows sealed before migration
    0014 and not backfilled, :attr:`pdf_sha256` stands in (registry.licencedirectory)."""
    pdf_size: Mapped[int | None] = mapped_column(Integer)
    seal_id: Mapped[str | None] = mapped_column(String(32))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("licences.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("licences.id"))
    created_by: Mapped[str] = mapped_column(String(160))
    import_batch_id: Mapped[str | None] = mapped_column(String(32))
    import_row: Mapped[int | None] = mapped_column(Integer)
    # Its entry in a status list (registry/statuslists.py); None: issued before lists.
    status_list_id: Mapped[int | None] = mapped_column(ForeignKey("status_lists.id"))
    status_list_index: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("type_code", "issuer_code", "serial", "version"),
        # Building a list reads its entries that are not valid.
        Index("ix_licences_status_list_status", "status_list_id", "status"),
        Index("ix_licences_holder", "holder_code", "type_code"),
        Index("ix_licences_type_issuer_id", "type_code", "issuer_code", "id"),
        Index("ix_licences_issuer_id", "issuer_code", "id"),
        Index("ix_licences_valid_until_status", "valid_until", "status"),
        UniqueConstraint("import_batch_id", "import_row"),
    )


class StatusList(Base):
    """One published status list (draft-ietf-oauth-status-list): its size and version.

    ``version`` goes up with every status change of one of its licences, so a token
    built from the rows is cached until it does (registry/statuslists.py).
    ``closed_at``: no new entries are drawn from it (it is filling up).
    """

    __tablename__ = "status_lists"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bits: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatusListSlot(Base):
    """An allocated entry: the primary key makes two licences never share one, and the
    row is written before the licence's PDF is rendered with its index."""

    __tablename__ = "status_list_slots"

    list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"), primary_key=True,
                                         autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class LicenceEvent(Base):
    """One change in a licence's life: who, when, why, effective when."""

    __tablename__ = "licence_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"))
    action: Mapped[TransitionAction] = mapped_column(str_enum(TransitionAction))
    operation_code: Mapped[str] = mapped_column(String(2))
    from_status: Mapped[LicenceStatus | None] = mapped_column(str_enum(LicenceStatus))
    to_status: Mapped[LicenceStatus] = mapped_column(str_enum(LicenceStatus))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(160))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument)

    __table_args__ = (Index("ix_licence_events_licence_effective", "licence_id", "effective_at"),)


class SerialCounter(Base):
    """Next serial number per licence type, issuer and year."""

    __tablename__ = "serial_counters"

    type_code: Mapped[str] = mapped_column(String(21), primary_key=True)
    issuer_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger)


class IdempotencyRecord(Base):
    """The first result of a request made with an Idempotency-Key."""

    __tablename__ = "idempotency_records"

    client_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    # Empty while the first request is being processed (the key is claimed first).
    licence_id: Mapped[int | None] = mapped_column(ForeignKey("licences.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImportBatch(Base):
    """A bulk import (migration) run; re-running with the same id resumes it."""

    __tablename__ = "import_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(21))
    issuer_code: Mapped[str] = mapped_column(String(18))
    source_sha256: Mapped[str] = mapped_column(String(64))
    seal_now: Mapped[bool] = mapped_column()
    imported: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(160))
    # Lines of the source processed so far (imported or failed), committed with each
    # chunk: a re-run resumes after it.
    rows_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ImportRowError(Base):
    """One problem with one row of an import, committed with the chunk that met it."""

    __tablename__ = "import_row_errors"

    batch_id: Mapped[str] = mapped_column(ForeignKey("import_batches.id"), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    field: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)


class ServiceItem(Base):
    """A service item (事项) that accepts licences instead of paper copies.

    ``materials``: ``[{"id", "name", "types": [{"type_code", "fields": [...]}]}]`` — for
    each required material, the licence types that satisfy it and, per type, the only
    surface fields the item may receive (data minimisation).
    """

    __tablename__ = "service_items"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    # Whether a use-copy (加注件) made for this item attaches the original sealed PDF,
    # which shows every surface field: only where the item may receive them all.
    use_copy_original: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(160))


class Consent(Base):
    """A holder's consent that an intake client may check their licences for one item."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder_code: Mapped[str] = mapped_column(String(32), index=True)
    holder_kind: Mapped[str] = mapped_column(String(32))
    item_code: Mapped[str] = mapped_column(ForeignKey("service_items.code"))
    client_id: Mapped[str | None] = mapped_column(ForeignKey("api_clients.id"))
    case_number: Mapped[str | None] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    granted_by: Mapped[str] = mapped_column(String(160))


class UseCode(Base):
    """A one-time use code (用证码): short, expires in minutes, valid once, for one item.

    Only a hash of the code is kept; the holder reads it out to the counter clerk.
    """

    __tablename__ = "use_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    holder_code: Mapped[str] = mapped_column(String(32), index=True)
    holder_kind: Mapped[str] = mapped_column(String(32))
    item_code: Mapped[str] = mapped_column(ForeignKey("service_items.code"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_client: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(160))


class AgentGrant(Base):
    """A holder (e.g. a company) lets an agent (a staff member) act for it."""

    __tablename__ = "agent_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal_code: Mapped[str] = mapped_column(String(32), index=True)
    principal_kind: Mapped[str] = mapped_column(String(32))
    agent_code: Mapped[str] = mapped_column(String(32), index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    granted_by: Mapped[str] = mapped_column(String(160))


class LicenceCheck(Base):
    """One certificate-free check (免提交) and the receipt it was answered with."""

    __tablename__ = "licence_checks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32), index=True)
    item_code: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(200))
    holder_code: Mapped[str] = mapped_column(String(32))
    consent_id: Mapped[str | None] = mapped_column(String(32))
    use_code_id: Mapped[str | None] = mapped_column(String(32))
    request_sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    receipt: Mapped[str] = mapped_column(Text)


class LicenceUse(Base):
    """One licence disclosed to an intake system (用证记录)."""

    __tablename__ = "licence_uses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"))
    identifier: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    holder_code: Mapped[str] = mapped_column(String(32))
    issuer_code: Mapped[str] = mapped_column(String(18))
    check_id: Mapped[str] = mapped_column(ForeignKey("licence_checks.id"))
    client_id: Mapped[str] = mapped_column(String(32))
    client_name: Mapped[str] = mapped_column(String(128))
    item_code: Mapped[str] = mapped_column(String(64))
    item_name: Mapped[str] = mapped_column(String(200))
    case_number: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[str]] = mapped_column(JSONDocument)
    consent_id: Mapped[str | None] = mapped_column(String(32))
    use_code_id: Mapped[str | None] = mapped_column(String(32))
    use_copy_sha256: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_licence_uses_holder_id", "holder_code", "id"),
        Index("ix_licence_uses_issuer_id", "issuer_code", "id"),
        Index("ix_licence_uses_licence_at", "licence_id", "at"),
    )


class LicenceUseCopy(Base):
    """A use-copy (加注件) the registry made and sealed for one use of a licence.

    ``signed_sha256`` is the SHA-256 of the copy's signed revision (the bytes its platform
    seal covers): verification finds the licence a use-copy was made of by it, and so
    reports that licence's status now
    (trust.validation.LicenceDirectory.licence_by_signed_digest).
    """

    __tablename__ = "licence_use_copies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    use_id: Mapped[int] = mapped_column(ForeignKey("licence_uses.id"), index=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"))
    identifier: Mapped[str] = mapped_column(String(100))
    signed_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    fields: Mapped[list[str]] = mapped_column(JSONDocument)
    """The surface fields the copy shows (the use's); every other one is redacted."""
    original_attached: Mapped[bool] = mapped_column()
    client_id: Mapped[str] = mapped_column(String(32))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)
