"""Request and response bodies of the licence registry API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zhengyin.registry.holders import HolderKind
from zhengyin.registry.licences import LicenceListing, PublicStatus
from zhengyin.registry.lifecycle import RevocationKind
from zhengyin.registry.models import Licence, LicenceEvent, LicenceStatus, LicenceType

from .inputs import Day, Instant, JsonObject, Line, Text

__all__ = [
    "LicenceCreate",
    "LicenceEventRead",
    "LicenceRead",
    "LicenceTypeRead",
    "PublicStatusRead",
]


class LicenceTypeRead(BaseModel):
    """One version of a licence type."""

    code: str
    version: int
    current: bool
    name: str
    authority_name: str
    holder_kinds: list[str]
    fields_schema: dict[str, Any]
    validity: dict[str, Any]
    number_pattern: str | None
    template: dict[str, Any]
    seal_types: list[str]
    created_at: datetime

    @classmethod
    def of(cls, row: LicenceType) -> LicenceTypeRead:
        """From the table row."""
        return cls.model_validate(row, from_attributes=True)


class LicenceCreate(BaseModel):
    """A licence to issue; the issuing organisation is the calling client's."""

    model_config = ConfigDict(extra="forbid")

    type_code: Line = Field(min_length=21, max_length=21, examples=["11100000000013338W032"])
    holder_kind: HolderKind = Field(examples=["credit-code"],
                                    description="citizen-id, residence-permit, passport, "
                                    "hk-macau-travel-permit, taiwan-travel-permit or credit-code")
    holder_code: Line = Field(min_length=1, max_length=32)
    holder_name: Line = Field(min_length=1, max_length=200)
    fields: JsonObject = Field(description="surface fields, per the type's fields_schema")
    valid_from: Day | None = None
    valid_until: Day | None = Field(default=None, description="only for explicit validity")
    printed_number: Line | None = Field(default=None, max_length=64,
                                       description="default: the type's number pattern")


class LicenceRead(BaseModel):
    """A licence as its issuer and holder see it."""

    identifier: str
    type_code: str
    type_version: int
    type_name: str
    version: int
    printed_number: str
    issuer_code: str
    issuer_name: str
    holder_kind: str
    holder_code: str
    holder_name: str
    fields: dict[str, Any]
    issued_at: datetime
    valid_from: date
    valid_until: date | None
    status: LicenceStatus = Field(description="effective now: a live licence past its end "
                                  "date reads as expired")
    pdf_sha256: str | None
    previous: str | None = None
    superseded_by: str | None = None

    @classmethod
    def of(cls, licence: Licence, licence_type: LicenceType, status: LicenceStatus, *,
           previous: str | None = None, superseded_by: str | None = None) -> LicenceRead:
        """From a licence row and its type version."""
        return cls(
            identifier=licence.identifier, type_code=licence.type_code,
            type_version=licence_type.version, type_name=licence_type.name,
            version=licence.version, printed_number=licence.printed_number,
            issuer_code=licence.issuer_code, issuer_name=licence.issuer_name,
            holder_kind=licence.holder_kind, holder_code=licence.holder_code,
            holder_name=licence.holder_name, fields=licence.fields, issued_at=licence.issued_at,
            valid_from=licence.valid_from, valid_until=licence.valid_until, status=status,
            pdf_sha256=licence.pdf_sha256, previous=previous, superseded_by=superseded_by,
        )

    @classmethod
    def listed(cls, listing: LicenceListing) -> LicenceRead:
        """From a licence as the registry lists it."""
        return cls.of(listing.licence, listing.licence_type, listing.status,
                      previous=listing.previous, superseded_by=listing.superseded_by)


class LicencePage(BaseModel):
    """A keyset page of licences."""

    licences: list[LicenceRead]
    next_after: int | None = Field(description="pass as ?after= for the next page")


class LicenceEventRead(BaseModel):
    """One entry of a licence's history."""

    action: str
    operation_code: str
    from_status: LicenceStatus | None
    to_status: LicenceStatus
    reason_code: str | None
    reason: str | None
    legal_basis: str | None
    effective_at: datetime
    recorded_at: datetime
    actor: str
    details: dict[str, Any]

    @classmethod
    def of(cls, event: LicenceEvent) -> LicenceEventRead:
        """From the table row."""
        return cls(
            action=event.action.value, operation_code=event.operation_code,
            from_status=event.from_status, to_status=event.to_status,
            reason_code=event.reason_code, reason=event.reason, legal_basis=event.legal_basis,
            effective_at=event.effective_at, recorded_at=event.recorded_at, actor=event.actor,
            details=event.details,
        )


class StatusAtRead(BaseModel):
    """The status of a licence at a moment."""

    identifier: str
    at: datetime
    status: LicenceStatus | None = Field(description="null: the licence did not exist yet")


class TransitionBody(BaseModel):
    """Why and from when a status change applies."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500)
    legal_basis: Text | None = Field(default=None, max_length=500)
    effective_at: Instant | None = Field(default=None, description="default: now")


class RevokeBody(BaseModel):
    """注销 / 吊销 / 撤销 with a reason code and the legal basis."""

    model_config = ConfigDict(extra="forbid")

    kind: RevocationKind
    reason_code: Line = Field(min_length=1, max_length=32)
    reason: Text = Field(min_length=1, max_length=500)
    legal_basis: Text = Field(min_length=1, max_length=500)
    effective_at: Instant | None = None


class NewVersionBody(BaseModel):
    """A change (变更) or renewal (延续): new content, new version."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500)
    fields: JsonObject | None = None
    holder_name: Line | None = Field(default=None, max_length=200)
    valid_from: Day | None = None
    valid_until: Day | None = None


class PublicStatusRead(BaseModel):
    """What anyone may learn about a licence identifier (no personal data)."""

    identifier: str
    type_name: str
    status: LicenceStatus
    valid_from: date
    valid_until: date | None = Field(description="null: long-term (长期有效)")
    superseded_by: str | None

    @classmethod
    def of(cls, status: PublicStatus) -> PublicStatusRead:
        """From the registry's public status."""
        return cls(identifier=status.identifier, type_name=status.type_name,
                   status=status.status, valid_from=status.valid_from,
                   valid_until=status.valid_until, superseded_by=status.superseded_by)
