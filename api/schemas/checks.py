"""Request and response bodies of certificate-free checks (免提交), consents and QR display."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from zhengyin.registry.checks import CheckOutcome, MaterialResult
from zhengyin.registry.holders import HolderKind
from zhengyin.registry.models import AgentGrant, Consent, LicenceUse, ServiceItem

from .inputs import Instant, Line

__all__ = [
    "AgentGrantCreate",
    "AgentGrantRead",
    "CheckCreate",
    "CheckRead",
    "ConsentCreate",
    "ConsentRead",
    "DisplayRead",
    "LicenceUseRead",
    "ServiceItemRead",
    "UseCodeCreate",
    "UseCodeRead",
    "UseCopyCreate",
]


class ServiceItemRead(BaseModel):
    """A service item and what it may receive."""

    code: str
    name: str
    materials: list[dict[str, Any]]
    use_copy_original: bool = Field(description="use-copies (加注件) for this item attach the "
                                    "original sealed licence (every field); default false")
    updated_at: datetime

    @classmethod
    def of(cls, item: ServiceItem) -> ServiceItemRead:
        """From the table row."""
        return cls(code=item.code, name=item.name, materials=item.materials,
                   use_copy_original=item.use_copy_original, updated_at=item.updated_at)


class CheckCreate(BaseModel):
    """An intake system's question: give either a consent id or a use code."""

    model_config = ConfigDict(extra="forbid")

    holder_kind: HolderKind = Field(examples=["credit-code"])
    holder_code: Line = Field(min_length=1, max_length=32)
    item_code: Line = Field(min_length=4, max_length=64, description="事项编码")
    case_number: Line = Field(min_length=1, max_length=64, description="the case (办件) number")
    purpose: Line = Field(min_length=1, max_length=200, description="用证事由")
    consent_id: Line | None = Field(default=None, max_length=32)
    use_code: Line | None = Field(default=None, max_length=16, description="用证码, e.g. ABCD-EFGH")
    materials: list[Annotated[Line, Field(max_length=64)]] | None = Field(
        default=None, max_length=100, description="default: all of the item's")


class MaterialRead(BaseModel):
    """The answer for one material."""

    material: str
    name: str
    satisfied: bool
    reason: str | None = Field(default=None, description="none-held, expired, suspended, "
                               "revoked or lost, when not satisfied")
    identifier: str | None = None
    version: int | None = None
    type_code: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    fields: dict[str, Any] | None = Field(default=None,
                                          description="only the fields the item may receive")

    @classmethod
    def of(cls, result: MaterialResult) -> MaterialRead:
        """From the registry's result."""
        return cls(material=result.material, name=result.name, satisfied=result.satisfied,
                   reason=result.reason, identifier=result.identifier, version=result.version,
                   type_code=result.type_code, valid_from=result.valid_from,
                   valid_until=result.valid_until, fields=result.fields)


class CheckRead(BaseModel):
    """The answer: per material, plus the registry's signed receipt to archive."""

    check_id: str
    at: datetime
    satisfied: bool = Field(description="every requested material is satisfied")
    materials: list[MaterialRead]
    receipt: str = Field(description="compact JWS signed by the registry (x5c chain); "
                         "verify with `zhengyin receipt verify`")

    @classmethod
    def of(cls, outcome: CheckOutcome) -> CheckRead:
        """From the registry's outcome."""
        return cls(check_id=outcome.check_id, at=outcome.at,
                   satisfied=all(result.satisfied for result in outcome.results),
                   materials=[MaterialRead.of(result) for result in outcome.results],
                   receipt=outcome.receipt)


class UseCopyCreate(BaseModel):
    """Which disclosed licence to make a use-copy (加注件) of."""

    model_config = ConfigDict(extra="forbid")

    identifier: Line = Field(max_length=128)


class ConsentCreate(BaseModel):
    """A holder's consent."""

    model_config = ConfigDict(extra="forbid")

    item_code: Line = Field(max_length=64)
    client_id: Line | None = Field(default=None, max_length=64,
                                   description="null: any intake client")
    case_number: Line | None = Field(default=None, max_length=64)
    expires_at: Instant | None = Field(default=None, description="capped by configuration")


class ConsentRead(BaseModel):
    """A consent."""

    id: str
    item_code: str
    client_id: str | None
    case_number: str | None
    granted_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None
    granted_by: str

    @classmethod
    def of(cls, consent: Consent) -> ConsentRead:
        """From the table row."""
        return cls.model_validate(consent, from_attributes=True)


class UseCodeCreate(BaseModel):
    """Ask for a one-time use code for one service item."""

    model_config = ConfigDict(extra="forbid")

    item_code: Line = Field(max_length=64)


class UseCodeRead(BaseModel):
    """A use code, shown once."""

    code: str = Field(description="read it out at the counter; valid once")
    item_code: str
    expires_at: datetime


class AgentGrantCreate(BaseModel):
    """Let an agent (a staff member, by ID number) act for this holder."""

    model_config = ConfigDict(extra="forbid")

    agent_code: Line = Field(min_length=18, max_length=18)
    expires_at: Instant


class AgentGrantRead(BaseModel):
    """An agent grant."""

    id: str
    principal_code: str
    agent_code: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, grant: AgentGrant) -> AgentGrantRead:
        """From the table row."""
        return cls.model_validate(grant, from_attributes=True)


class LicenceUseRead(BaseModel):
    """One use of a licence (用证记录)."""

    id: int
    identifier: str
    version: int
    client_name: str
    item_code: str
    item_name: str
    case_number: str
    purpose: str
    fields: list[str]
    consent_id: str | None
    use_code_id: str | None
    use_copy_sha256: str | None
    at: datetime

    @classmethod
    def of(cls, use: LicenceUse) -> LicenceUseRead:
        """From the table row."""
        return cls.model_validate(use, from_attributes=True)


class DisplayRead(BaseModel):
    """A display code (亮证): show it as a QR code; it expires in minutes."""

    token: str = Field(description="compact JWS signed by the registry")
    url: str = Field(description="what the QR code encodes: the public verification page")
    expires_at: datetime
