"""Errors of the trust layer: PKI, revocation, time-stamping, clients and the audit log."""

from __future__ import annotations

__all__ = [
    "AuditChainBrokenError",
    "AuthenticationError",
    "CertificateNotFoundError",
    "ClientNotFoundError",
    "DatabaseSchemaError",
    "InvalidCodeError",
    "InvalidCreditCodeError",
    "InvalidIDNumberError",
    "PKINotInitialisedError",
    "RevocationError",
    "TimeStampError",
    "TrustError",
]


class TrustError(Exception):
    """Root of every trust-layer failure; carries a stable ``code`` and a ``hint``."""

    code = "trust.error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class DatabaseSchemaError(TrustError):
    """The database schema is not at the revision this code needs."""

    code = "database.schema_outdated"


class PKINotInitialisedError(TrustError):
    """The certificate authorities have not been created yet."""

    code = "pki.not_initialised"


class CertificateNotFoundError(TrustError):
    """No certificate with this serial number was issued here."""

    code = "pki.certificate_not_found"


class InvalidCodeError(TrustError):
    """An identifier (credit code, ID number) failed its format or check-character test."""

    code = "codes.invalid"


class InvalidCreditCodeError(InvalidCodeError):
    """A unified social credit code failed its format or check-character test."""

    code = "codes.invalid_credit_code"


class InvalidIDNumberError(InvalidCodeError):
    """A citizen ID or residence permit number failed its format, date or check test."""

    code = "codes.invalid_id_number"


class RevocationError(TrustError):
    """A revocation request cannot be carried out (already revoked, a CA, bad reason)."""

    code = "pki.revocation_refused"


class TimeStampError(TrustError):
    """A time-stamp request is malformed or could not be answered."""

    code = "tsa.bad_request"


class ClientNotFoundError(TrustError):
    """No API client by that id or name."""

    code = "clients.not_found"


class AuthenticationError(TrustError):
    """A credential is missing, malformed, unknown, wrong or disabled.

    One class and one message for all cases, so a caller cannot tell which.
    """

    code = "auth.invalid_credential"


class AuditChainBrokenError(TrustError):
    """The audit log's hash chain or a checkpoint signature does not verify."""

    code = "audit.chain_broken"
