"""Errors of the trust layer: PKI, revocation, time-stamping, clients and the audit log."""

from __future__ import annotations

__all__ = [
    "AuditChainBrokenError",
    "AuditCheckpointMissingError",
    "AuditExportError",
    "AuditSignerMissingError",
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
    """The audit log's hash chain or a checkpoint signature does not verify.

    ``seq`` is the first audit entry (or checkpoint) found broken.
    """

    code = "audit.chain_broken"

    def __init__(self, message: str, *, seq: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.seq = seq


class AuditCheckpointMissingError(AuditChainBrokenError):
    """A signed checkpoint the interval requires is not there (deleted, or never signed).

    ``missing`` are the checkpoint sequence numbers absent (first, last, how many);
    ``unproven`` the entries no surviving checkpoint of their interval covers.
    """

    code = "audit.checkpoint_missing"

    def __init__(self, message: str, *, missing: tuple[int, int, int],
                 unproven: tuple[int, int], hint: str | None = None) -> None:
        super().__init__(message, seq=missing[0], hint=hint)
        self.missing = missing
        self.unproven = unproven


class AuditSignerMissingError(TrustError):
    """An entry due a signed checkpoint cannot be linked: there is no audit identity yet."""

    code = "audit.signer_missing"


class AuditExportError(TrustError):
    """A file of exported audit checkpoints cannot be used: a line is forged or malformed."""

    code = "audit.export_invalid"
