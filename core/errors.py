"""The root error of every package, and the platform's own errors.

Every failure Zhengyin raises on purpose is a :class:`ZhengyinError`: it carries a stable
``code`` (the API's problem code, the CLI's one-line answer) and, where there is one, a
``hint`` saying what to do next. Each package's base (``KeyStoreError``, ``TrustError``,
``SigningError``, ``RegistryError``, the API's own) derives from it, so one handler can
answer them all; the HTTP status of each class is decided in ``api/problems.py`` alone.
"""

from __future__ import annotations

__all__ = [
    "AuditChainBrokenError",
    "AuditCheckpointMissingError",
    "AuditExportError",
    "AuditSignerMissingError",
    "AuthenticationError",
    "ClientNotFoundError",
    "ClientStateError",
    "ConcurrentChangeError",
    "DatabaseSchemaError",
    "InvalidCodeError",
    "InvalidCreditCodeError",
    "InvalidIDNumberError",
    "PlatformError",
    "ZhengyinError",
]


class ZhengyinError(Exception):
    """Root of every deliberate failure; carries a stable ``code`` and a ``hint``."""

    code = "zhengyin.error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class PlatformError(ZhengyinError):
    """A platform failure with no more specific class (a bad client name, say).

    Its code stays ``trust.error``: the platform grew out of the trust layer, and clients
    already match on the code.
    """

    code = "trust.error"


class DatabaseSchemaError(PlatformError):
    """The database schema is not at the revision this code needs."""

    code = "database.schema_outdated"


class InvalidCodeError(PlatformError):
    """An identifier (credit code, ID number) failed its format or check-character test."""

    code = "codes.invalid"


class InvalidCreditCodeError(InvalidCodeError):
    """A unified social credit code failed its format or check-character test."""

    code = "codes.invalid_credit_code"


class InvalidIDNumberError(InvalidCodeError):
    """A citizen ID or residence permit number failed its format, date or check test."""

    code = "codes.invalid_id_number"


class ConcurrentChangeError(PlatformError):
    """Another change of the same thing was recorded after this request's time.

    The request decided on what it saw at its time; recording it now would write the
    history out of order. Nothing changed: read the current state and send it again.
    """

    code = "state.changed_meanwhile"


class ClientNotFoundError(PlatformError):
    """No API client by that id or name."""

    code = "clients.not_found"


class ClientStateError(PlatformError):
    """The client's state does not allow this (disabled; the last administrator)."""

    code = "clients.illegal_transition"


class AuthenticationError(PlatformError):
    """A credential is missing, malformed, unknown, wrong or disabled.

    One class and one message for all cases, so a caller cannot tell which.
    """

    code = "auth.invalid_credential"


class AuditChainBrokenError(PlatformError):
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


class AuditSignerMissingError(PlatformError):
    """An entry due a signed checkpoint cannot be linked: there is no audit identity yet."""

    code = "audit.signer_missing"


class AuditExportError(PlatformError):
    """A file of exported audit checkpoints cannot be used: a line is forged or malformed."""

    code = "audit.export_invalid"
