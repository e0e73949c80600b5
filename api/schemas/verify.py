"""The verification report as JSON: schema ``zhengyin.verification/1``.

Stable: fields are only ever added; a change that removes or redefines one bumps
``schema_version``. Indications and sub-indications are ETSI EN 319 102-1 names; every
check has a stable ``reason.code`` and readable ``reason.zh`` / ``reason.en``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from zhengyin.trust.validation import (
    CheckResult,
    LicenceRecord,
    Reason,
    SealRecord,
    SignatureReport,
    Verdict,
    VerificationReport,
)
from zhengyin.trust.validation.changetext import describe
from zhengyin.trust.validation.evidence import CertificateFacts, Modification

from .inputs import Line, Text

__all__ = [
    "CheckRead",
    "ModificationRead",
    "QRPayloadBody",
    "ReasonRead",
    "SignatureRead",
    "TrustAnchorCreate",
    "TrustAnchorRead",
    "VerdictRead",
    "VerificationReportRead",
]

IndicationName = Literal["TOTAL-PASSED", "TOTAL-FAILED", "INDETERMINATE"]


class ReasonRead(BaseModel):
    """What a check found."""

    code: str = Field(description="stable machine-readable code, e.g. changes.not_permitted")
    zh: str = Field(description="in Chinese")
    en: str = Field(description="in English")

    @classmethod
    def of(cls, reason: Reason) -> ReasonRead:
        """From the model."""
        return cls(code=reason.code, zh=reason.zh, en=reason.en)


class CheckRead(BaseModel):
    """One check and its outcome."""

    check: str = Field(description="format, integrity, changes, certificate, revocation, "
                       "timing, seal, licence; document-readable, document-signed, "
                       "file-layout, licence-status, qr-payload")
    status: Literal["passed", "failed", "indeterminate", "not-applicable"]
    sub_indication: str | None = Field(description="ETSI sub-indication when not passed")
    reason: ReasonRead

    @classmethod
    def of(cls, result: CheckResult) -> CheckRead:
        """From the model."""
        return cls(check=result.check, status=result.status.value,
                   sub_indication=result.sub_indication.value
                   if result.sub_indication else None,
                   reason=ReasonRead.of(result.reason))


class VerdictRead(BaseModel):
    """The verdict: derived from the checks, worst outcome first."""

    indication: IndicationName
    sub_indication: str | None = Field(description="ETSI EN 319 102-1 sub-indication")
    reasons: list[ReasonRead] = Field(description="the problems, or every check if all passed")

    @classmethod
    def of(cls, verdict: Verdict) -> VerdictRead:
        """From the model."""
        return cls(indication=verdict.indication.value,
                   sub_indication=verdict.sub_indication.value
                   if verdict.sub_indication else None,
                   reasons=[ReasonRead.of(reason) for reason in verdict.reasons])


class CertificateRead(BaseModel):
    """A signing certificate."""

    subject: str
    common_name: str | None
    organisation: str | None
    organisation_identifier: str | None = Field(description="NTRCN-<credit code> for seals")
    serial_number: str | None = Field(description="the subject's serialNumber (seal code)")
    certificate_serial: str = Field(description="hexadecimal")
    sha256: str
    issuer: str
    not_before: datetime
    not_after: datetime

    @classmethod
    def of(cls, facts: CertificateFacts) -> CertificateRead:
        """From the evidence."""
        return cls(subject=facts.subject, common_name=facts.common_name,
                   organisation=facts.organisation,
                   organisation_identifier=facts.organisation_identifier,
                   serial_number=facts.serial_number, certificate_serial=facts.serial_hex,
                   sha256=facts.sha256, issuer=facts.issuer, not_before=facts.not_before,
                   not_after=facts.not_after)


class TimestampRead(BaseModel):
    """A signature time-stamp."""

    time: datetime
    trusted: bool
    intact: bool
    authority: str


class ChangeRead(BaseModel):
    """One object a later revision added or changed."""

    revision: int
    object: str
    kind: str
    subtype: str | None
    page: int | None
    new: bool
    name: str | None


class ModificationRead(BaseModel):
    """One thing a later revision added, changed or removed, as a reader sees it."""

    revision: int = Field(description="the file's revision (0 is the original)")
    kind: str = Field(description="validation-data, document-timestamp, signature, "
                      "field-added, field-filled, field-changed, field-removed, form, "
                      "widget-added, annotation-added, annotation-changed, "
                      "annotation-removed, page-added, page-removed, page-changed, "
                      "page-content, page-resource, catalog, action, metadata, "
                      "object-added, object-changed, object-deleted, unanalysable")
    level: str = Field(description="the least certification permitting it: LTA_UPDATES "
                       "(P=1), FORM_FILLING (P=2), ANNOTATIONS (P=3), OTHER (none)")
    page: int | None
    name: str | None = Field(description="field name, catalog or metadata entry, action")
    field_type: str | None = Field(description="Tx, Btn, Ch, Sig, DocTimeStamp; an "
                                   "annotation's subtype")
    filled: bool | None
    visible: bool | None = Field(description="whether a viewer draws anything for it")
    rect: list[float] | None
    detail: str | None
    objects: list[str]
    zh: str
    en: str

    @classmethod
    def of(cls, item: Modification) -> ModificationRead:
        """From the evidence."""
        zh, en = describe(item)
        return cls(revision=item.revision, kind=item.kind, level=item.level.name,
                   page=item.page, name=item.name, field_type=item.field_type,
                   filled=item.filled, visible=item.visible,
                   rect=list(item.rect) if item.rect is not None else None,
                   detail=item.detail, objects=list(item.objects), zh=zh, en=en)


class ChangesRead(BaseModel):
    """Coverage and changes after signing."""

    coverage: str = Field(description="ENTIRE_FILE, ENTIRE_REVISION, "
                          "CONTIGUOUS_BLOCK_FROM_START or UNCLEAR")
    level: str | None = Field(description="NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER")
    later_revisions: int
    changed_fields: list[str]
    objects: list[ChangeRead]
    modifications: list[ModificationRead] = Field(
        default_factory=list, description="what each later revision did, per revision, "
        "page changes first")


class SealRead(BaseModel):
    """The registered seal that signed."""

    seal_code: str
    name: str
    type: str
    organisation: str
    credit_code: str
    status_now: str
    status_at_signing: str | None
    status_changed_at: datetime | None
    valid_from: datetime
    valid_until: datetime

    @classmethod
    def of(cls, seal: SealRecord) -> SealRead:
        """From the directory record."""
        return cls(seal_code=seal.seal_code, name=seal.name, type=seal.seal_type,
                   organisation=seal.organisation, credit_code=seal.credit_code,
                   status_now=seal.state_now.value,
                   status_at_signing=seal.state_at_signing.value
                   if seal.state_at_signing else None,
                   status_changed_at=seal.state_changed_at, valid_from=seal.valid_from,
                   valid_until=seal.valid_until)


class LicenceStatusRead(BaseModel):
    """A licence as verification reports it (no holder data)."""

    identifier: str
    type_name: str
    issuer_name: str
    issuer_code: str
    version: int
    valid_from: date
    valid_until: date | None
    status_now: str
    status_at_signing: str | None
    superseded_by: str | None
    use_copy: bool = Field(default=False, description="the document is a use-copy (加注件) "
                           "the registry made of this licence, not the licence's own PDF")

    @classmethod
    def of(cls, licence: LicenceRecord) -> LicenceStatusRead:
        """From the directory record."""
        return cls(identifier=licence.identifier, type_name=licence.type_name,
                   issuer_name=licence.issuer_name, issuer_code=licence.issuer_code,
                   version=licence.version, valid_from=licence.valid_from,
                   valid_until=licence.valid_until, status_now=licence.state_now.value,
                   status_at_signing=licence.state_at_signing.value
                   if licence.state_at_signing else None,
                   superseded_by=licence.superseded_by, use_copy=licence.use_copy)


class SignatureRead(BaseModel):
    """One signature (or document time-stamp) with its verdict and every check."""

    field: str
    kind: Literal["signature", "document-timestamp"]
    verdict: VerdictRead
    signer: CertificateRead | None
    seal: SealRead | None
    signing_time: datetime | None
    signing_time_proven: bool = Field(description="a trusted time-stamp proves signing_time")
    claimed_signing_time: datetime | None
    timestamp: TimestampRead | None
    certification: int | None = Field(description="DocMDP P (1, 2, 3) of this signature")
    certifies: bool = Field(description="whether this is the document's certification")
    subfilter: str | None
    trust_anchor: str | None
    licence: LicenceStatusRead | None
    changes: ChangesRead | None
    checks: list[CheckRead]
    warnings: list[ReasonRead] = Field(
        default_factory=list, description="what passed but a relying party should know, "
        "e.g. a field filled after a certification that permits it (with its page)")

    @classmethod
    def of(cls, item: SignatureReport) -> SignatureRead:
        """From the report."""
        evidence = item.evidence
        stamp = evidence.timestamp
        changes = evidence.changes
        return cls(
            field=evidence.field, kind="document-timestamp"
            if evidence.kind == "document-timestamp" else "signature",
            verdict=VerdictRead.of(item.verdict),
            signer=CertificateRead.of(evidence.signer) if evidence.signer else None,
            seal=SealRead.of(item.seal) if item.seal else None,
            signing_time=item.signing_time, signing_time_proven=item.signing_time_proven,
            claimed_signing_time=evidence.claimed_time,
            timestamp=TimestampRead(time=stamp.time, trusted=stamp.trusted,
                                    intact=stamp.intact and stamp.valid, authority=stamp.tsa)
            if stamp else None,
            certification=evidence.docmdp, certifies=evidence.certifies,
            subfilter=evidence.subfilter,
            trust_anchor=evidence.chain.anchor if evidence.chain else None,
            licence=LicenceStatusRead.of(item.licence) if item.licence else None,
            changes=ChangesRead(
                coverage=changes.coverage,
                level=changes.level.name if changes.level is not None else None,
                later_revisions=changes.later_revisions,
                changed_fields=list(changes.changed_fields),
                objects=[ChangeRead(revision=change.revision, object=change.reference,
                                    kind=change.kind, subtype=change.subtype,
                                    page=change.page, new=change.new, name=change.name)
                         for change in changes.summary],
                modifications=[ModificationRead.of(change)
                               for change in changes.modifications]) if changes else None,
            checks=[CheckRead.of(check) for check in item.checks],
            warnings=[ReasonRead.of(reason) for reason in item.warnings],
        )


class SubjectRead(BaseModel):
    """What was verified."""

    kind: Literal["pdf", "identifier", "qr"]
    sha256: str | None
    size: int | None
    file_name: str | None
    identifier: str | None


class VerificationReportRead(BaseModel):
    """A verification report."""

    schema_version: Literal["zhengyin.verification/1"] = "zhengyin.verification/1"
    verdict: VerdictRead
    subject: SubjectRead
    verified_at: datetime
    document_checks: list[CheckRead]
    signatures: list[SignatureRead]
    licence: LicenceStatusRead | None

    @classmethod
    def of(cls, report: VerificationReport) -> VerificationReportRead:
        """From the report."""
        subject = report.subject
        return cls(
            verdict=VerdictRead.of(report.verdict),
            subject=SubjectRead(kind=subject.kind, sha256=subject.sha256,
                                size=subject.size, file_name=subject.file_name,
                                identifier=subject.identifier),
            verified_at=report.verified_at,
            document_checks=[CheckRead.of(check) for check in report.document],
            signatures=[SignatureRead.of(item) for item in report.signatures],
            licence=LicenceStatusRead.of(report.licence) if report.licence else None,
        )


class QRPayloadBody(BaseModel):
    """A scanned QR code's text."""

    payload: Line = Field(min_length=1, max_length=8192)


class TrustAnchorCreate(BaseModel):
    """An external root CA to trust, PEM."""

    certificate: Text = Field(min_length=64, max_length=65536, description="PEM")
    note: Line | None = Field(default=None, max_length=500)


class TrustAnchorRead(BaseModel):
    """An external trust anchor."""

    sha256: str
    subject: str
    not_before: datetime
    not_after: datetime
    status: str
    note: str | None
    added_at: datetime
    added_by: str
    removed_at: datetime | None
