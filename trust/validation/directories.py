"""What verification needs to know from the layers above, as Protocols.

The trust layer must not import the seal registry (signing/) or the licence registry
(registry/); they implement these interfaces (``zhengyin.signing.sealdirectory``,
``zhengyin.registry.licencedirectory``) and the API runtime passes them in. The records are plain
frozen data, so a trust list (offline) can serve the same interface.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

__all__ = [
    "LicenceDirectory",
    "LicenceRecord",
    "LicenceState",
    "SealDirectory",
    "SealRecord",
    "SealState",
]


class SealState(enum.StrEnum):
    """A seal's registry state (signing.models.SealStatus, by value)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True)
class SealRecord:
    """A registered seal as verification sees it, with its state at the signing time."""

    seal_id: str
    seal_code: str
    name: str
    seal_type: str
    organisation: str
    credit_code: str
    valid_from: datetime
    valid_until: datetime
    state_now: SealState
    state_changed_at: datetime | None
    state_reason: str | None
    state_at_signing: SealState | None
    """None when the seal did not exist yet at the signing time."""
    image_png: bytes | None


class SealDirectory(Protocol):
    """Is this signing certificate a registered seal, which one, and in what state."""

    def seal_for_certificate(self, certificate_der: bytes, *, signed_at: datetime
                             ) -> SealRecord | None:
        """The seal whose certificate is exactly ``certificate_der`` (same bytes, not just
        the same name or serial), or None."""
        ...


class LicenceState(enum.StrEnum):
    """A licence's status (registry.models.LicenceStatus, by value)."""

    VALID = "valid"
    SUSPENDED = "suspended"
    LOST = "lost"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"

    @property
    def zh(self) -> str:
        """The status as Chinese registries name it (STANDARDS §2)."""
        return {LicenceState.VALID: "有效", LicenceState.SUSPENDED: "暂扣",
                LicenceState.LOST: "挂失", LicenceState.EXPIRED: "已过期",
                LicenceState.REVOKED: "已注销/吊销/撤销",
                LicenceState.SUPERSEDED: "已变更或延续（被新版本取代）"}[self]


@dataclass(frozen=True)
class LicenceRecord:
    """What verification may learn about a licence: no holder data."""

    identifier: str
    type_name: str
    issuer_name: str
    issuer_code: str
    version: int
    valid_from: date
    valid_until: date | None
    state_now: LicenceState
    state_at_signing: LicenceState | None
    """None when no signing time was asked or the licence did not exist then."""
    pdf_sha256: str | None
    """SHA-256 of the PDF issued for this version (None: not sealed yet)."""
    superseded_by: str | None
    use_copy: bool = False
    """True when the document is a use-copy (加注件) of this licence that the registry
    made and recorded by its signed digest, not the licence's own PDF."""


class LicenceDirectory(Protocol):
    """Which licence a signed revision is; status now and at a time; the issued PDF."""

    def licence(self, identifier: str, *, at: datetime, signed_at: datetime | None
                ) -> LicenceRecord | None:
        """The licence with exactly this identifier (any version), or None."""
        ...

    def issued_pdf(self, identifier: str) -> bytes | None:
        """The PDF issued for this licence version, for re-verification by identifier."""
        ...

    def licence_by_signed_digest(self, signed_sha256: str, *, at: datetime,
                                 signed_at: datetime) -> LicenceRecord | None:
        """The licence whose issued PDF has a signed revision (the bytes its seal's
        signature covers) with this SHA-256, or of which the registry made a use-copy
        (加注件) with that signed digest (then ``use_copy`` is set); or None. This, not
        the document's metadata, decides which licence a document is (issue 13 §1)."""
        ...
