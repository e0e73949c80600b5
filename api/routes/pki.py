"""Public PKI endpoints: CA certificates, CRLs, OCSP and the time-stamp authority."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Security
from fastapi.responses import Response
from fastapi.security import SecurityScopes

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.core.errors import AuthenticationError

from ..deps import OptionalPrincipalDep, RawBody, ReadServicesDep, RuntimeDep, ServicesDep
from ..problems import ForbiddenError, NotFoundError

router = APIRouter(tags=["pki"])

_CA_PURPOSES = ("root", "issuing")
_CACHE = {"Cache-Control": "public, max-age=300"}


def _binary(body: bytes, media_type: str, **headers: str) -> Response:
    return Response(content=body, media_type=media_type, headers=headers or None)


@router.get(
    "/pki/ca/{purpose}.crt", operation_id="get_ca_certificate",
    summary="A CA certificate (DER)",
    responses={200: {"content": {"application/pkix-cert": {}}}},
)
def get_ca_certificate(purpose: str, services: ReadServicesDep) -> Response:
    """The root or issuing CA certificate, for trust stores and AIA caIssuers."""
    if purpose not in _CA_PURPOSES:
        raise NotFoundError(f"no CA named {purpose!r}; use root or issuing")
    return _binary(services.pki.identity(purpose).der, "application/pkix-cert", **_CACHE)


@router.get(
    "/pki/certificates/{serial}", operation_id="get_certificate",
    summary="Any certificate we issued (DER)",
    responses={200: {"content": {"application/pkix-cert": {}}}},
)
def get_certificate(serial: str, services: ReadServicesDep) -> Response:
    """Certificates are public; seal and person certificates appear in every signed PDF."""
    return _binary(services.pki.record(serial).der, "application/pkix-cert", **_CACHE)


@router.get(
    "/pki/crl/{purpose}.crl", operation_id="get_crl", summary="Current CRL of a CA (DER)",
    responses={200: {"content": {"application/pkix-crl": {}}}},
)
def get_crl(purpose: str, services: ServicesDep) -> Response:
    """The CA's CRL, re-signed when stale or half-way to its nextUpdate."""
    if purpose not in _CA_PURPOSES:
        raise NotFoundError(f"no CA named {purpose!r}; use root or issuing")
    return _binary(services.crl.current(purpose, at=utcnow()), "application/pkix-crl",
                   **{"Cache-Control": "public, max-age=60"})


_OCSP_BODY: dict[str, Any] = {
    "requestBody": {"content": {"application/ocsp-request": {"schema": {"type": "string",
                                                                        "format": "binary"}}}}
}


@router.post(
    "/ocsp", operation_id="ocsp_post", summary="OCSP (RFC 6960), POST",
    openapi_extra=_OCSP_BODY,
    responses={200: {"content": {"application/ocsp-response": {}}}},
)
def ocsp_post(body: RawBody, services: ReadServicesDep) -> Response:
    """Answer a DER OCSPRequest."""
    return _binary(services.ocsp.respond(body, at=utcnow()), "application/ocsp-response")


@router.get(
    "/ocsp/{encoded:path}", operation_id="ocsp_get", summary="OCSP (RFC 6960), GET",
    responses={200: {"content": {"application/ocsp-response": {}}}},
)
def ocsp_get(encoded: str, services: ReadServicesDep) -> Response:
    """Answer a base64 (URL-encoded) DER OCSPRequest, RFC 6960 appendix A.1."""
    try:
        request_der = base64.b64decode(unquote(encoded), validate=True)
    except (binascii.Error, ValueError):
        request_der = b""
    return _binary(services.ocsp.respond(request_der, at=utcnow()), "application/ocsp-response",
                   **{"Cache-Control": "max-age=60"})


async def _tsa_caller(
    security_scopes: SecurityScopes, runtime: RuntimeDep, principal: OptionalPrincipalDep
) -> Principal | None:
    """The TSA serves our clients (scope ``tsa:use``) unless the operator made it public."""
    if runtime.settings.tsa_public:
        return principal
    if principal is None:
        raise AuthenticationError(
            "the time-stamp authority needs a client credential",
            hint="send 'Authorization: Bearer zy.<client id>.<secret>'",
        )
    if Scope.TSA_USE not in principal.scopes:
        raise ForbiddenError(f"client {principal.name!r} lacks scope {Scope.TSA_USE.value}")
    return principal


@router.post(
    "/tsa", operation_id="timestamp", summary="RFC 3161 time-stamp authority",
    openapi_extra={"requestBody": {"content": {"application/timestamp-query": {
        "schema": {"type": "string", "format": "binary"}}}}},
    responses={200: {"content": {"application/timestamp-reply": {}}}},
)
def timestamp(
    body: RawBody,
    runtime: RuntimeDep,
    _caller: Annotated[Principal | None, Security(_tsa_caller, scopes=[Scope.TSA_USE.value])],
) -> Response:
    """Answer a DER TimeStampReq with a TimeStampResp (rejections included)."""
    return _binary(runtime.tsa().respond(body), "application/timestamp-reply")
