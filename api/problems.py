"""RFC 9457 problem details for every error the API returns.

Each error class maps to one HTTP status here, and only here. Bodies carry a stable
``code`` (e.g. ``licence.suspended``), the message as ``detail`` and, where there is one,
a ``hint`` saying what to do next. Unexpected exceptions become a bare 500 whose detail
reveals nothing; the log has the traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from zhengyin.core import errors as core_errors
from zhengyin.core.errors import ZhengyinError
from zhengyin.keys import errors as key_errors
from zhengyin.registry import catalogue as registry_catalogue
from zhengyin.registry import errors as registry_errors
from zhengyin.registry import sealing as registry_sealing
from zhengyin.registry import statuslists as registry_statuslists
from zhengyin.registry import usecopies as registry_usecopies
from zhengyin.signing import errors as signing_errors
from zhengyin.signing.timestamps import TimeStampUnavailableError
from zhengyin.trust import errors as trust_errors
from zhengyin.trust.anchors import TrustAnchorError
from zhengyin.trust.validation import errors as validation_errors

from .schemas.inputs import PATTERN_MESSAGES
from .settings import SettingsError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "ApiError",
    "ForbiddenError",
    "NotFoundError",
    "PayloadTooLargeError",
    "Problem",
    "install_problem_handlers",
    "problem_response",
    "status_for",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("zhengyin.api")


class ApiError(ZhengyinError):
    """An error raised by the API layer itself (authorisation, limits, routing)."""

    code = "api.error"
    status = 400


class ForbiddenError(ApiError):
    """The caller is authenticated but may not do this."""

    code = "auth.forbidden"
    status = 403


class NotFoundError(ApiError):
    """Nothing at this address (or nothing this caller may know about)."""

    code = "not_found"
    status = 404


class PayloadTooLargeError(ApiError):
    """The request body exceeds the configured limit."""

    code = "request.too_large"
    status = 413


class TooManyRequestsError(ApiError):
    """The caller exceeded its rate limit."""

    code = "request.rate_limited"
    status = 429


class FieldProblem(BaseModel):
    """One field of the request and what is wrong with it."""

    model_config = ConfigDict(extra="allow")

    field: str = Field(description="dotted path, e.g. fields.address or query.after")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, as every error of this API is."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "description": "RFC 9457 problem details; `code` is stable, `detail` is for people"})

    type: str = Field(examples=["urn:zhengyin:problem:auth.forbidden"])
    title: str
    status: int
    detail: str
    instance: str
    code: str = Field(examples=["licence.illegal_transition"])
    hint: str | None = Field(default=None, description="what to do next, where there is one")
    request_id: str | None = Field(default=None, description="the X-Request-Id of the request")
    errors: list[FieldProblem] | None = Field(
        default=None, description="per field, when the request is invalid")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("the request cannot be carried out as sent"),
    401: _problem("no credential, or a wrong one"),
    403: _problem("the credential does not grant this (or no consent)"),
    404: _problem("nothing at this address that the caller may see"),
    409: _problem("conflicts with the current state"),
    413: _problem("the request body exceeds the limit"),
    422: _problem("the request is invalid (the problem's `errors` name the fields)"),
    429: _problem("rate limit exceeded; see Retry-After"),
    503: _problem("a backend (database, key store, PKI) is not available"),
}
"""Documented on every operation (app.py applies it to every router): what any call may get."""


# Most specific classes first is not needed: the lookup walks each error's MRO.
_STATUS: dict[type[BaseException], int] = {
    key_errors.KeyNotFoundError: 404,
    key_errors.KeyDisabledError: 409,
    key_errors.UnsupportedAlgorithmError: 422,
    key_errors.KeyStoreError: 503,
    core_errors.AuthenticationError: 401,
    trust_errors.CertificateNotFoundError: 404,
    core_errors.ClientNotFoundError: 404,
    core_errors.ClientStateError: 409,
    core_errors.InvalidCodeError: 422,
    trust_errors.RevocationError: 409,
    core_errors.ConcurrentChangeError: 409,
    trust_errors.PKINotInitialisedError: 503,
    core_errors.DatabaseSchemaError: 503,
    trust_errors.TimeStampError: 400,
    core_errors.AuditChainBrokenError: 409,
    trust_errors.TrustError: 400,
    SettingsError: 500,
    registry_errors.InvalidIdentifierError: 422,
    registry_errors.InvalidHolderCodeError: 422,
    registry_errors.InvalidSurfaceFieldsError: 422,
    registry_errors.LicenceTypeNotFoundError: 404,
    registry_errors.LicenceNotFoundError: 404,
    registry_errors.NotAllowedToIssueError: 403,
    registry_errors.IllegalTransitionError: 409,
    registry_errors.IdempotencyConflictError: 409,
    registry_errors.ImportConflictError: 409,
    registry_errors.ImportBatchNotFoundError: 404,
    registry_errors.ImportSourceError: 422,
    registry_catalogue.TypeDefinitionError: 422,
    registry_errors.ConsentError: 403,
    registry_errors.AgentGrantError: 422,
    registry_errors.NotAnAgentError: 403,
    registry_errors.FileStoreError: 503,
    registry_sealing.NoIssuerSealError: 409,
    registry_usecopies.UseCopyNotFoundError: 404,
    registry_statuslists.StatusListNotFoundError: 404,
    registry_usecopies.LicenceNoLongerValidError: 409,
    registry_errors.RegistryError: 400,
    signing_errors.SealNotFoundError: 404,
    signing_errors.StampJobNotFoundError: 404,
    signing_errors.SealOrganisationError: 422,
    signing_errors.SealStateError: 409,
    signing_errors.SealUnusableError: 409,
    signing_errors.DocumentLockedError: 409,
    signing_errors.StampNotPermittedError: 409,
    signing_errors.PDFTooLargeError: 413,
    signing_errors.SealError: 422,
    signing_errors.BadImageError: 422,
    signing_errors.BadPDFError: 422,
    signing_errors.PlacementError: 422,
    signing_errors.StampOptionsError: 422,
    TimeStampUnavailableError: 503,
    signing_errors.SigningError: 400,
    validation_errors.NotAPDFError: 422,
    validation_errors.DocumentTooLargeError: 413,
    validation_errors.DocumentTooComplexError: 422,
    validation_errors.EncryptedDocumentError: 422,
    validation_errors.VerifierBusyError: 503,
    validation_errors.UnsupportedPayloadError: 422,
    TrustAnchorError: 422,
    ZhengyinError: 400,
}
# The bases whose errors become problem documents; anything else is a bare 500.
_HANDLED: tuple[type[BaseException], ...] = tuple(
    error for error in _STATUS
    if not any(other is not error and issubclass(error, other) for other in _STATUS))


def status_for(error: BaseException) -> int:
    """The HTTP status of an error class (walks the MRO)."""
    if isinstance(error, ApiError):
        return error.status
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build an ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": f"urn:zhengyin:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if hint:
        body["hint"] = hint
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE,
                        headers=headers)


def _domain_handler(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    code = getattr(exc, "code", "error")
    message = getattr(exc, "message", str(exc))
    hint = getattr(exc, "hint", None)
    headers = {"WWW-Authenticate": 'Bearer realm="zhengyin"'} if status == 401 else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(retry_after)}
    extra = getattr(exc, "problem_extra", None) or {}
    if status >= 500:
        log.error("request failed: %s: %s", code, message)
    return problem_response(request, status=status, code=code, detail=message, hint=hint,
                            headers=headers, **extra)


def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        message = error.get("msg", "invalid")
        if error.get("type") == "string_pattern_mismatch":
            message = PATTERN_MESSAGES.get(error.get("ctx", {}).get("pattern"), message)
        errors.append({"field": ".".join(location), "message": message})
    fields = ", ".join(sorted({e["field"] for e in errors if e["field"]}))
    return problem_response(
        request, status=422, code="request.invalid",
        detail=f"the request is invalid: {fields}" if fields else "the request is invalid",
        errors=errors,
    )


def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "auth.invalid_credential",
             413: PayloadTooLargeError.code}
    code = getattr(exc, "code", None) or codes.get(exc.status_code, "http.error")
    return problem_response(
        request, status=exc.status_code, code=code,
        detail=str(exc.detail), headers=getattr(exc, "headers", None),
    )


def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request, status=500, code="internal",
        detail="internal error; the operation was not carried out",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    handler: Callable[[Request, Exception], Any]
    app.add_exception_handler(ApiError, _domain_handler)
    for error_class in _HANDLED:
        app.add_exception_handler(error_class, _domain_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_handler)
    handler = _http_handler
    app.add_exception_handler(StarletteHTTPException, handler)
    app.add_exception_handler(Exception, _unexpected_handler)
