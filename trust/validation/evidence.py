"""What examining a PDF found: facts only, no judgement.

The examination (pyHanko, certificates, revocation, time-stamps, the document's revision
history) runs in a worker process under time and memory limits and returns these frozen,
picklable records; the checks (:mod:`trust.validation.checks`) then judge them against the
policy and the registries in the calling process. Keeping facts and judgement apart means
the expensive, hostile-input part has no database and the judgement is pure data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .layout import LayoutFacts
from .policy import ChangeLevel

__all__ = [
    "CertificateFacts",
    "ChainFacts",
    "ChangeFacts",
    "DocumentEvidence",
    "ObjectChange",
    "SignatureEvidence",
    "TimestampFacts",
]


@dataclass(frozen=True)
class CertificateFacts:
    """A certificate, as shown to people and looked up in the registries."""

    der: bytes
    sha256: str
    serial_hex: str
    subject: str
    common_name: str | None
    organisation: str | None
    organisation_identifier: str | None
    serial_number: str | None
    """The subject's serialNumber attribute (our seal code)."""
    issuer: str
    not_before: datetime
    not_after: datetime
    self_issued: bool


@dataclass(frozen=True)
class ChainFacts:
    """Path validation of a certificate at one moment."""

    moment: datetime
    trusted: bool
    problem: str | None
    """An ETSI sub-indication name when not trusted."""
    detail: str | None
    anchor: str | None
    anchor_sha256: str | None
    anchor_is_ours: bool
    path: tuple[str, ...]
    revoked_at: datetime | None
    """Our CRL's revocation time of the certificate (or a CA of its path), if revoked."""
    revocation_reason: str | None
    ca_revoked: bool
    revocation_source: str | None
    """Where the revocation status came from: "dss" and/or "service"."""
    revoked_later_at: datetime | None
    """Our CRL's revocation time of the signing certificate when it is after the moment
    (the signature stays valid; reported for information)."""
    issued_here: bool
    """Whether one of this service's CAs signed the certificate (checked with the CA's
    key, not by name: a foreign CA may carry the name of ours)."""


@dataclass(frozen=True)
class TimestampFacts:
    """A signature time-stamp token (or a document time-stamp)."""

    time: datetime
    intact: bool
    valid: bool
    trusted: bool
    tsa: str
    problem: str | None
    tsa_sha256: str
    """SHA-256 of the time-stamp authority's certificate."""
    tsa_issued_here: bool
    """Whether one of this service's CAs signed the authority's certificate."""


@dataclass(frozen=True)
class ObjectChange:
    """One object a later revision added or changed."""

    revision: int
    reference: str
    """"12 0 R"."""
    kind: str
    """page, page-content, annotation, form-field, signature-field, signature, xobject,
    font, catalog, page-tree, form, validation-data, metadata, other."""
    subtype: str | None
    page: int | None
    new: bool
    name: str | None


@dataclass(frozen=True)
class ChangeFacts:
    """Coverage of the signature and the changes made after it."""

    coverage: str
    """pyHanko's SignatureCoverageLevel name (ENTIRE_FILE, ENTIRE_REVISION, ...)."""
    level: ChangeLevel | None
    """None when the difference analysis could not classify the changes."""
    later_revisions: int
    changed_fields: tuple[str, ...]
    """Non-signature form fields whose value changed after signing."""
    suspicious: str | None
    """Why the difference analysis refused the changes, when it did."""
    summary: tuple[ObjectChange, ...]
    """What the later revisions added or changed, object by object (bounded)."""


@dataclass(frozen=True)
class SignatureEvidence:
    """Everything found about one signature field."""

    field: str
    kind: str
    """"signature" or "document-timestamp"."""
    subfilter: str | None
    format_problem: str | None
    """Set when the signature could not be read; then the facts below are mostly None."""
    byte_range: tuple[int, ...] | None
    signed_revision: int | None
    signed_bytes_sha256: str | None
    """SHA-256 of the file up to the end of this signature's revision."""
    docmdp: int | None
    certifies: bool
    intact: bool | None
    valid: bool | None
    crypto_detail: str | None
    signer: CertificateFacts | None
    chain: ChainFacts | None
    timestamp: TimestampFacts | None
    claimed_time: datetime | None
    changes: ChangeFacts | None
    licence_identifier: str | None
    """/ZZBS of the document information dictionary in the signed revision."""
    licence_metadata: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DocumentEvidence:
    """A document's signatures and what surrounds them."""

    sha256: str
    size: int
    revisions: int
    signatures: tuple[SignatureEvidence, ...]
    empty_fields: tuple[str, ...]
    problem: str | None
    """A document-level defect: unreadable, too many signatures or revisions."""
    layout: LayoutFacts | None
    """The updates after the earliest signed revision and any bytes that are none
    (:mod:`.layout`); None when no signature could be read."""
    examined_at: datetime
    material: str
    """Fingerprint of the trust material used."""
