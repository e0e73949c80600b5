"""Errors of the trust layer: PKI, revocation, time-stamping, clients and the audit log."""

from __future__ import annotations

from core.errors import (  # house-move: re-export
    AuditChainBrokenError,  # house-move: re-export
    AuditCheckpointMissingError,  # house-move: re-export
    AuditExportError,  # house-move: re-export
    AuditSignerMissingError,  # house-move: re-export
    AuthenticationError,  # house-move: re-export
    ClientNotFoundError,  # house-move: re-export
    ClientStateError,  # house-move: re-export
    ConcurrentChangeError,  # house-move: re-export
    DatabaseSchemaError,  # house-move: re-export
    InvalidCodeError,  # house-move: re-export
    InvalidCreditCodeError,  # house-move: re-export
    InvalidIDNumberError,  # house-move: re-export
    ZhengyinError,
)  # house-move: re-export

__all__ = [
    "AuditChainBrokenError",  # house-move: re-export
    "AuditCheckpointMissingError",  # house-move: re-export
    "AuditExportError",  # house-move: re-export
    "AuditSignerMissingError",  # house-move: re-export
    "AuthenticationError",  # house-move: re-export
    "CertificateNotFoundError",
    "ClientNotFoundError",  # house-move: re-export
    "ClientStateError",  # house-move: re-export
    "ConcurrentChangeError",  # house-move: re-export
    "DatabaseSchemaError",  # house-move: re-export
    "InvalidCodeError",  # house-move: re-export
    "InvalidCreditCodeError",  # house-move: re-export
    "InvalidIDNumberError",  # house-move: re-export
    "PKINotInitialisedError",
    "RevocationError",
    "TimeStampError",
    "TrustError",
]


class TrustError(ZhengyinError):
    """Root of every trust-layer failure; carries a stable ``code`` and a ``hint``."""

    code = "trust.error"


class PKINotInitialisedError(TrustError):
    """The certificate authorities have not been created yet."""

    code = "pki.not_initialised"


class CertificateNotFoundError(TrustError):
    """No certificate with this serial number was issued here."""

    code = "pki.certificate_not_found"


class RevocationError(TrustError):
    """A revocation request cannot be carried out (already revoked, a CA, bad reason)."""

    code = "pki.revocation_refused"


class TimeStampError(TrustError):
    """A time-stamp request is malformed or could not be answered."""

    code = "tsa.bad_request"


