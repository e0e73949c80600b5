"""Errors of verification.

Two kinds:

* :class:`VerificationError` and its subclasses: the input cannot be verified at all (not
  a PDF, too large, too complex for the time and memory limits, an unknown QR payload).
  The API answers these with a 4xx problem document.
* :class:`CheckFailedError` and its subclasses: raised by a check that found a problem. Each
  carries the ETSI EN 319 102-1 sub-indication and a reason in Chinese and English
  (STYLE §2: validation errors carry the sub-indication); the verifier records it in the
  report, so a tampered document is an answer (TOTAL-FAILED), never an error.
"""

from __future__ import annotations

from ..errors import TrustError
from .verdict import Reason, SubIndication

__all__ = [
    "CheckFailedError",
    "DocumentTooComplexError",
    "DocumentTooLargeError",
    "EncryptedDocumentError",
    "NotAPDFError",
    "NotApplicable",
    "UnsupportedPayloadError",
    "VerificationError",
    "VerifierBusyError",
]


class VerificationError(TrustError):
    """The input cannot be verified at all."""

    code = "verify.error"


class NotAPDFError(VerificationError):
    """The bytes are not a PDF document."""

    code = "verify.not_pdf"


class DocumentTooLargeError(VerificationError):
    """The document exceeds the size limit."""

    code = "verify.too_large"


class EncryptedDocumentError(VerificationError):
    """The document is encrypted and does not open with an empty user password."""

    code = "verify.encrypted"


class DocumentTooComplexError(VerificationError):
    """Verification did not finish within the time or memory limit."""

    code = "verify.too_complex"


class VerifierBusyError(VerificationError):
    """Every verification worker is busy; try again shortly."""

    code = "verify.busy"


class UnsupportedPayloadError(VerificationError):
    """A QR payload in a format this verifier does not know."""

    code = "verify.unsupported_payload"


class CheckFailedError(TrustError):
    """A check found a problem: the sub-indication and the reason go into the report."""

    code = "verify.check_failed"

    def __init__(self, sub_indication: SubIndication, reason: Reason) -> None:
        super().__init__(reason.en)
        self.sub_indication = sub_indication
        self.reason = reason


class NotApplicable(Exception):  # noqa: N818 - a signal, not an error
    """The check does not apply to this signature (e.g. no licence identifier)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.en)
        self.reason = reason
