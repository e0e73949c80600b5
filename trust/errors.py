"""Errors of the trust layer: PKI, revocation, time-stamping, clients and the audit log."""

from __future__ import annotations

from zhengyin.core.errors import (
    ZhengyinError,
)

__all__ = [
    "CertificateNotFoundError",
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


