"""Verification reports: the facts, one result per check, and verdicts derived from them.

A report is data (STYLE §3): frozen, one field per check, and the verdict a property
computed from the checks every time it is read, never stored. The JSON form
(``api/schemas/verify.py``) carries :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .directories import LicenceRecord, SealRecord
from .evidence import SignatureEvidence
from .verdict import CheckResult, Reason, Verdict

__all__ = ["SCHEMA_VERSION", "SignatureReport", "Subject", "VerificationReport"]

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
