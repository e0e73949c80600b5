"""What examining a PDF found: facts only, no judgement.

The examination (pyHanko, certificates, revocation, time-stamps, the document's revision
history) runs in a worker process under time and memory limits and returns these frozen,
picklable records; the checks (:mod:`zhengyin.trust.validation.checks`) then judge them against the
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
    "LicenceClaim",
    "Modification",
    "ObjectChange",
    "SeedValueFacts",
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
    revoked_later_reason: str | None = None
    """That revocation's reason (``certificate_hold``: its seal is suspended now)."""


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
class Modification:
    """One thing a later revision added, changed or removed, as a reader sees it
    (:mod:`.modifications`)."""

    revision: int
    kind: str
    """validation-data, document-timestamp, signature (an existing empty signature field
    signed), field-added, field-filled, field-changed, field-removed, form, widget-added,
    annotation-added, annotation-changed, annotation-removed, page-added, page-removed,
    page-changed, page-content, page-resource, catalog, action, metadata, object-added,
    object-changed, object-deleted, unanalysable."""
    level: ChangeLevel
    """The least certification that permits it (ISO 32000-1 §12.8.2.2, Table 254):
    LTA_UPDATES (also after P=1, ISO 32000-2), FORM_FILLING (P=2), ANNOTATIONS (P=3),
    OTHER (no certification permits it)."""
    page: int | None
    name: str | None
    """The field's qualified name, the catalog or metadata entry, the action type."""
    field_type: str | None
    """Tx, Btn, Ch or Sig for fields; the annotation subtype for annotations; the
    signature dictionary's /Type (Sig, DocTimeStamp) for signatures."""
    filled: bool | None
    """For fields: whether the field has a value (a signature field: is signed)."""
    visible: bool | None
    """For widgets and annotations: whether a viewer draws anything."""
    rect: tuple[float, float, float, float] | None
    reserved_in: int | None
    """For a signature put in an existing field: the first revision examined in which
    that field was present and empty."""
    detail: str | None
    """The keys that changed, or what an object is."""
    objects: tuple[str, ...]
    """The objects concerned ("12 0 R"), bounded."""


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
    modifications: tuple[Modification, ...] = ()
    """What each later revision did, structure by structure, every object accounted for."""


@dataclass(frozen=True)
class SeedValueFacts:
    """The signature field's seed values (/SV) and whether the signature meets them."""

    required: tuple[str, ...]
    """The entries the field requires (flagged in /Ff), e.g. "sub-filter", "key usage"."""
    problem: str | None
    """The first required entry the signature violates (or why none could be checked)."""
    uncheckable: bool
    """A required entry no verifier can check (a legal attestation, say)."""


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
    seed_values: SeedValueFacts | None = None
    """The field's /SV requirements; None when it has none."""
    attribute_problem: str | None = None
    """Why the CMS signed attributes are not a valid CAdES set (:mod:`.cadesattrs`)."""


@dataclass(frozen=True)
class LicenceClaim:
    """A licence identifier the document claims: a GB/T 36903 ``ZZBS`` (or
    ``certificateIdentifier``) entry of the document information or the XMP metadata of
    one revision, signed or appended later (:mod:`.claims`)."""

    identifier: str | None
    """The identifier claimed; None when the entry holds no identifier (a number, an
    empty or over-long string, unreadable XMP): a malformed claim."""
    found: str
    """The value as found, or what a malformed one is; bounded, for the reason."""
    source: str
    """"info" (document information) or "xmp" (the catalog's XMP metadata)."""
    revision: int
    """The first revision (0: the file as first written) in which it was found."""


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
    licence_claims: tuple[LicenceClaim, ...] = ()
    """Every licence identifier the document claims, in any revision (:mod:`.claims`).
    Which licence a document is never follows from these: only a signed revision's
    digest decides; a claim can only contradict it."""
