"""Validation: turning a signed PDF, a licence identifier or a QR payload into a verdict.

Separate from signing (STYLE §1): this package shares only models with ``signing/``.
The examiner gathers facts (pyHanko, certificates, revocation, the revision history) in
a worker under limits; the checks judge them against a policy and the registries; the
report derives verdicts (ETSI EN 319 102-1 indications and sub-indications) with reasons
in Chinese and English.
"""

from __future__ import annotations

from .directories import (
    LicenceDirectory,
    LicenceRecord,
    LicenceState,
    SealDirectory,
    SealRecord,
    SealState,
)
from .errors import (
    CheckFailedError,
    DocumentTooComplexError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    NotAPDFError,
    UnsupportedPayloadError,
    VerificationError,
    VerifierBusyError,
)
from .material import TrustMaterial
from .policy import (
    DEFAULT_LIMITS,
    DEFAULT_POLICY,
    FINAL_POLICY,
    ChangeLevel,
    ChangeRule,
    ExaminationLimits,
    ValidationPolicy,
)
from .report import SCHEMA_VERSION, SignatureReport, Subject, VerificationReport
from .verdict import CheckResult, CheckStatus, Indication, Reason, SubIndication, Verdict
from .verifier import DocumentExaminer, QRClaim, QRPayloadReader, Verifier

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_POLICY",
    "FINAL_POLICY",
    "SCHEMA_VERSION",
    "ChangeLevel",
    "ChangeRule",
    "CheckFailedError",
    "CheckResult",
    "CheckStatus",
    "DocumentExaminer",
    "DocumentTooComplexError",
    "DocumentTooLargeError",
    "EncryptedDocumentError",
    "ExaminationLimits",
    "Indication",
    "LicenceDirectory",
    "LicenceRecord",
    "LicenceState",
    "NotAPDFError",
    "QRClaim",
    "QRPayloadReader",
    "Reason",
    "SealDirectory",
    "SealRecord",
    "SealState",
    "SignatureReport",
    "SubIndication",
    "Subject",
    "TrustMaterial",
    "UnsupportedPayloadError",
    "ValidationPolicy",
    "Verdict",
    "VerificationError",
    "VerificationReport",
    "Verifier",
    "VerifierBusyError",
]
