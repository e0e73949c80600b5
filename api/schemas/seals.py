"""Request and response bodies of the seal registry and stamping API.

Placement units (also in the OpenAPI descriptions): PDF points (1/72 inch), origin at the
bottom-left corner of the page, pages numbered from 1 and negative from the end.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zhengyin.keys import KeyAlgorithm
from zhengyin.signing.appearance import OrganisationLevel
from zhengyin.signing.errors import BadImageError
from zhengyin.signing.models import (
    Seal,
    SealStatus,
    SealType,
    SealUse,
    SignatureLevel,
    StampJob,
    StampJobStatus,
)
from zhengyin.signing.placement import (
    AnchorPlacement,
    BoxPlacement,
    CrossPage,
    FieldPlacement,
    InvisiblePlacement,
    Placement,
    ReservedField,
)
from zhengyin.signing.seals import SealRequest
from zhengyin.signing.stamper import StampOptions

from .inputs import Coordinate, Instant, Line, PageNumber, Text

__all__ = [
    "SealAuthorise",
    "SealCreate",
    "SealRead",
    "SealRevoke",
    "SealStatusChange",
    "SealUsePage",
    "SealUseRead",
    "StampJobRead",
    "StampOptionsIn",
]

Box = Annotated[tuple[Coordinate, Coordinate, Coordinate, Coordinate],
                Field(description="(x1, y1, x2, y2) in PDF points, origin bottom-left")]


class SealCreate(BaseModel):
    """A new seal; a key is generated and a certificate issued for it."""

    model_config = ConfigDict(extra="forbid")

    org_name: Line = Field(min_length=1, max_length=200)
    credit_code: Line = Field(min_length=18, max_length=18,
                             description="unified social credit code (GB 32100)")
    seal_type: SealType
    name: Line | None = Field(default=None, max_length=200)
    holder_name: Line | None = Field(default=None, max_length=64,
                                    description="personal and legal-representative seals")
    holder_id_number: Line | None = Field(default=None, min_length=18, max_length=18)
    region_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    seal_code: str | None = Field(default=None, pattern=r"^[0-9]{13}$",
                                  description="13 digits; allocated when absent")
    level: OrganisationLevel = Field(default=OrganisationLevel.ENTERPRISE,
                                     description="decides the diameter (STANDARDS §4)")
    diameter_mm: float | None = Field(default=None, ge=20, le=80)
    image_png_base64: Line | None = Field(
        default=None, description="an uploaded transparent PNG instead of the generated image")
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256

    def to_request(self) -> SealRequest:
        """The registry's request object (the PNG decoded, not yet validated)."""
        image = None
        if self.image_png_base64 is not None:
            try:
                image = base64.b64decode(self.image_png_base64, validate=True)
            except (binascii.Error, ValueError):
                raise BadImageError("image_png_base64 is not valid base64") from None
        return SealRequest(
            org_name=self.org_name, credit_code=self.credit_code, seal_type=self.seal_type,
            name=self.name, holder_name=self.holder_name,
            holder_id_number=self.holder_id_number, region_code=self.region_code,
            seal_code=self.seal_code, level=self.level, diameter_mm=self.diameter_mm,
            image_png=image, valid_from=self.valid_from, valid_until=self.valid_until,
            algorithm=self.algorithm,
        )


class SealRead(BaseModel):
    """A seal (its image is at ``image_url``)."""

    id: str
    seal_code: str
    seal_type: SealType
    name: str
    org_name: str
    org_credit_code: str
    region_code: str
    holder_name: str | None
    image_sha256: str
    image_url: str
    certificate_serial: str
    valid_from: datetime
    valid_until: datetime
    status: SealStatus
    status_reason: str | None
    status_changed_at: datetime | None
    created_at: datetime
    authorised_clients: list[str] | None = Field(
        default=None, description="client ids allowed to stamp (administrators only)")

    @classmethod
    def of(cls, seal: Seal, *, serial: str, clients: list[str] | None = None) -> SealRead:
        """From the table row."""
        return cls(
            id=seal.id, seal_code=seal.seal_code, seal_type=seal.seal_type, name=seal.name,
            org_name=seal.org_name, org_credit_code=seal.org_credit_code,
            region_code=seal.region_code, holder_name=seal.holder_name,
            image_sha256=seal.image_sha256, image_url=f"/seals/{seal.id}/image.png",
            certificate_serial=serial, valid_from=seal.valid_from,
            valid_until=seal.valid_until, status=seal.status,
            status_reason=seal.status_reason, status_changed_at=seal.status_changed_at,
            created_at=seal.created_at, authorised_clients=clients,
        )


class SealStatusChange(BaseModel):
    """Why a seal is suspended or resumed."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500)


class SealRevoke(SealStatusChange):
    """Why a seal is revoked; its certificate is revoked with it."""

    key_compromised: bool = False


class SealAuthorise(BaseModel):
    """A client allowed to stamp with a seal."""

    model_config = ConfigDict(extra="forbid")

    client_id: Line = Field(min_length=1, max_length=32)


class SealUseRead(BaseModel):
    """One seal use (用印记录)."""

    id: int
    seal_id: str
    client_id: str | None
    actor: str
    at: datetime
    case_number: str
    purpose: str
    document_name: str | None
    input_sha256: str
    output_sha256: str
    field_name: str
    level: SignatureLevel
    placement: dict[str, Any]
    job_id: str | None

    @classmethod
    def of(cls, use: SealUse) -> SealUseRead:
        """From the table row."""
        return cls.model_validate(use, from_attributes=True)


class SealUsePage(BaseModel):
    """A keyset page of seal uses."""

    uses: list[SealUseRead]
    next_after: int | None = Field(description="pass as ?after= for the next page")


# --------------------------------------------------------------------------- stamping


class BoxIn(BaseModel):
    """A page and a box."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["box"]
    page: PageNumber = Field(description="from 1; negative counts from the end (-1 = last page)")
    box: Box


class AnchorIn(BaseModel):
    """Centre the seal on a text (first hit from the last page backwards)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["anchor"]
    text: Line = Field(min_length=1, max_length=100, examples=["盖章处"])
    page: PageNumber | None = Field(default=None, description="search only this page")
    offset: tuple[Coordinate, Coordinate] = Field(default=(0.0, 0.0), description="points (dx, dy)")


class FieldIn(BaseModel):
    """Fill an empty signature field reserved by the certifying seal."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["field"]
    name: Line = Field(min_length=1, max_length=64)


class InvisibleIn(BaseModel):
    """No visible seal (e.g. a cross-page seal alone)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["invisible"]


class CrossPageIn(BaseModel):
    """A cross-page seal (骑缝章) along the right edge of pages first..last."""

    model_config = ConfigDict(extra="forbid")

    first: PageNumber = 1
    last: PageNumber = -1
    y: Coordinate | None = Field(default=None, description="height of the seal's centre in points")


class ReservedFieldIn(BaseModel):
    """An empty signature field for a co-sealer."""

    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=64)
    page: PageNumber
    box: Box


PlacementIn = Annotated[BoxIn | AnchorIn | FieldIn | InvisibleIn, Field(discriminator="kind")]


class StampOptionsIn(BaseModel):
    """How to stamp: placement, level, certification, co-sealers' fields."""

    model_config = ConfigDict(extra="forbid")

    placement: PlacementIn
    cross_page: CrossPageIn | None = None
    level: SignatureLevel = SignatureLevel.B_T
    certify: bool | None = Field(
        default=None, description="default: certify when the document has no signature yet")
    reserve: list[ReservedFieldIn] = Field(
        default_factory=list, description="co-sealers' fields (the certifying seal only)")
    reason: Line | None = Field(default=None, max_length=200)
    location: Line | None = Field(default=None, max_length=200)

    @field_validator("reserve")
    @classmethod
    def _few(cls, value: list[ReservedFieldIn]) -> list[ReservedFieldIn]:
        if len(value) > 20:
            raise ValueError("at most 20 reserved fields")
        return value

    def to_options(self) -> StampOptions:
        """The signing layer's options."""
        visible: BoxPlacement | AnchorPlacement | FieldPlacement | InvisiblePlacement
        placement = self.placement
        if isinstance(placement, BoxIn):
            visible = BoxPlacement(placement.page, placement.box)
        elif isinstance(placement, AnchorIn):
            visible = AnchorPlacement(placement.text, placement.page, placement.offset)
        elif isinstance(placement, FieldIn):
            visible = FieldPlacement(placement.name)
        else:
            visible = InvisiblePlacement()
        cross = None
        if self.cross_page is not None:
            cross = CrossPage(self.cross_page.first, self.cross_page.last, self.cross_page.y)
        return StampOptions(
            placement=Placement(visible, cross), level=self.level, certify=self.certify,
            reserve=tuple(ReservedField(r.name, r.page, r.box) for r in self.reserve),
            reason=self.reason, location=self.location,
        )


class StampJobRead(BaseModel):
    """A batch job: status, counts and per-document results."""

    id: str
    seal_id: str
    status: StampJobStatus
    total: int
    succeeded: int
    failed: int
    results: list[dict[str, Any]]
    created_at: datetime
    finished_at: datetime | None
    output_url: str | None

    @classmethod
    def of(cls, job: StampJob) -> StampJobRead:
        """From the table row."""
        return cls(
            id=job.id, seal_id=job.seal_id, status=job.status, total=job.total,
            succeeded=job.succeeded, failed=job.failed, results=list(job.results),
            created_at=job.created_at, finished_at=job.finished_at,
            output_url=f"/stamp-jobs/{job.id}/output" if job.status is StampJobStatus.DONE
            else None,
        )
