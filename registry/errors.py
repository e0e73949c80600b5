"""Errors of the registry: types, licences, lifecycle, consent, checks, files."""

from __future__ import annotations

from typing import Any

from zhengyin.core.errors import ZhengyinError

__all__ = [
    "AgentGrantError",
    "ConsentError",
    "FileStoreError",
    "IdempotencyConflictError",
    "IllegalTransitionError",
    "ImportBatchNotFoundError",
    "ImportConflictError",
    "ImportSourceError",
    "InvalidHolderCodeError",
    "InvalidIdentifierError",
    "InvalidSurfaceFieldsError",
    "LicenceNotFoundError",
    "LicenceTypeNotFoundError",
    "NotAllowedToIssueError",
    "NotAnAgentError",
    "RegistryError",
]


class RegistryError(ZhengyinError):
    """Root of every registry failure; carries a stable ``code`` and a ``hint``."""

    code = "registry.error"

    def __init__(self, message: str, *, hint: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problem_extra: dict[str, Any] = {"errors": errors} if errors else {}


class InvalidIdentifierError(RegistryError):
    """A string is not a well-formed GB/T 36904 licence identifier."""

    code = "identifier.invalid"


class InvalidHolderCodeError(RegistryError):
    """A holder code failed its format or check-character test."""

    code = "holder.invalid_code"


class InvalidSurfaceFieldsError(RegistryError):
    """Surface fields do not match the licence type's schema."""

    code = "licence.invalid_fields"


class LicenceTypeNotFoundError(RegistryError):
    """No licence type with this code (or version)."""

    code = "licence_type.not_found"


class LicenceNotFoundError(RegistryError):
    """No licence with this identifier (or none this caller may see)."""

    code = "licence.not_found"


class NotAllowedToIssueError(RegistryError):
    """The issuing organisation may not issue this licence type."""

    code = "licence.issuer_not_allowed"


class IllegalTransitionError(RegistryError):
    """The lifecycle change is not allowed from the licence's current state."""

    code = "licence.illegal_transition"


class IdempotencyConflictError(RegistryError):
    """The idempotency key was used before with a different request."""

    code = "idempotency.conflict"


class ConsentError(RegistryError):
    """No valid consent or use code covers this request (deliberately unspecific)."""

    code = "consent.missing"


class AgentGrantError(RegistryError):
    """An agent grant that may not be made: to oneself, already ended, or too long."""

    code = "agent.invalid_grant"


class NotAnAgentError(RegistryError):
    """The caller holds no valid, unexpired agent grant from the holder it names."""

    code = "agent.not_authorised"


class FileStoreError(RegistryError):
    """The file store cannot read or write a file."""

    code = "filestore.error"


class ImportSourceError(RegistryError):
    """A bulk import's source or options cannot be used (not a row problem: those are
    reported per row and do not stop the import)."""

    code = "import.invalid_source"


class ImportConflictError(RegistryError):
    """The import batch is being run elsewhere, or was started with another file or options."""

    code = "import.conflict"


class ImportBatchNotFoundError(RegistryError):
    """No import batch with this id (or none this caller may see)."""

    code = "import.not_found"
