"""Verification reports: the facts, one result per check, and verdicts derived from them.

A report is data (STYLE §3): frozen, one field per check, and the verdict a property
computed from the checks every time it is read, never stored. The JSON form
(``api/schemas/verify.py``) carries :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .directories import LicenceRecord, SealRecord, SealState
from .evidence import SignatureEvidence
from .verdict import CheckResult, CheckStatus, Reason, Verdict

__all__ = ["CHECK_NAMES_ZH", "SCHEMA_VERSION", "SignatureReport", "Subject", "VerificationReport"]

# What each check is called for people (the report PDF, the public page).
CHECK_NAMES_ZH = {
    "format": "签名结构", "integrity": "完整性", "changes": "签名后改动",
    "certificate": "证书链", "seed-values": "签名域要求", "revocation": "吊销状态",
    "timing": "签名时间", "seal": "印章登记", "licence": "电子证照",
    "document-readable": "文件解析", "document-signed": "是否签章", "file-layout": "文件结构",
    "licence-status": "证照状态", "qr-payload": "二维码",
}

SCHEMA_VERSION = "zhengyin.verification/1"


@dataclass(frozen=True)
class SignatureReport:
    """One signature: its facts, its registry records, and one result per check."""

    evidence: SignatureEvidence
    seal: SealRecord | None
    licence: LicenceRecord | None
    format: CheckResult
    integrity: CheckResult
    changes: CheckResult
    certificate: CheckResult
    revocation: CheckResult
    timing: CheckResult
    registration: CheckResult
    licence_check: CheckResult
    seed_values: CheckResult
    warnings: tuple[Reason, ...] = ()
    """What passed but a relying party should know (e.g. a field filled after a
    certification that permits it), in the order found."""

    @property
    def notes(self) -> tuple[Reason, ...]:
        """Everything a reader of a passing verdict should still be told: the warnings,
        and the reasons of checks that passed or did not apply but report a later event
        or a gap (the certificate revoked or the seal suspended or revoked after the
        signing time, a signing time that is only claimed, a licence not looked up).
        Plain-text output prints these, so it hides nothing the JSON report says."""
        evidence, passed = self.evidence, CheckStatus.PASSED
        chain = evidence.chain
        found = list(self.warnings)
        if self.revocation.status is passed and chain is not None \
                and chain.revoked_later_at is not None:
            found.append(self.revocation.reason)
        if self.registration.status is passed and self.seal is not None \
                and self.seal.state_now is not SealState.ACTIVE:
            found.append(self.registration.reason)
        if self.timing.status is passed and not self.signing_time_proven:
            found.append(self.timing.reason)
        if self.licence_check.status is CheckStatus.NOT_APPLICABLE \
                and self.licence_check.reason.code == "licence.offline":
            found.append(self.licence_check.reason)
        return tuple(dict.fromkeys(found))

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        """Every check, in the order a person reads them."""
        return (self.format, self.integrity, self.changes, self.certificate,
                self.seed_values, self.revocation, self.timing, self.registration,
                self.licence_check)

    @property
    def verdict(self) -> Verdict:
        """Derived from the checks: the worst outcome wins."""
        return Verdict.of(self.checks)

    @property
    def signing_time(self) -> datetime | None:
        """The proven signing time (time-stamp), else the signer's claim."""
        stamp = self.evidence.timestamp
        if stamp is not None and stamp.trusted:
            return stamp.time
        return self.evidence.claimed_time

    @property
    def signing_time_proven(self) -> bool:
        """Whether a trusted time-stamp proves :attr:`signing_time`."""
        stamp = self.evidence.timestamp
        return stamp is not None and stamp.trusted


@dataclass(frozen=True)
class Subject:
    """What was verified."""

    kind: str
    """"pdf", "identifier" or "qr"."""
    sha256: str | None
    size: int | None
    file_name: str | None
    identifier: str | None


@dataclass(frozen=True)
class VerificationReport:
    """A document's (or a licence's) checks, signatures and overall verdict."""

    subject: Subject
    verified_at: datetime
    document: tuple[CheckResult, ...]
    signatures: tuple[SignatureReport, ...]
    licence: LicenceRecord | None

    @property
    def verdict(self) -> Verdict:
        """The worst of the document checks and every signature's verdict."""
        return Verdict.combine([Verdict.of(self.document),
                                *(signature.verdict for signature in self.signatures)])
