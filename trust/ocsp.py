"""RFC 6960 OCSP responder for certificates issued by the issuing CA.

The responder has its own delegated certificate (``id-kp-OCSPSigning`` with
``id-pkix-ocsp-nocheck``). Certificates certified by the root (the issuing CA itself)
are answered through the root's CRL instead, as the issuing CA certificate's CRL
distribution point says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import core, ocsp, x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.keys import KeyAlgorithm, KeyStore

from .asn1sign import sign_bytes, signature_algorithm
from .models import CertificateRecord, CertificateStatus, RevocationReason
from .pki import ISSUING, OCSP, PKI

__all__ = ["OCSPResponder"]

_MAX_NONCE = 32
_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
           "sha512": hashlib.sha512}


@dataclass(frozen=True)
class _Issuer:
    record_id: int
    certificate: x509.Certificate


def _error_response(status: str) -> bytes:
    return bytes(ocsp.OCSPResponse({"response_status": status}).dump())


class OCSPResponder:
    """Answers OCSP requests from the certificate table."""

    def __init__(self, session: Session, keystore: KeyStore, pki: PKI) -> None:
        self._session = session
        self._keys = keystore
        self._pki = pki

    def respond(self, request_der: bytes, *, at: datetime) -> bytes:
        """DER OCSPResponse for a DER OCSPRequest; malformed input gets malformedRequest."""
        try:
            # strict: trailing bytes after the request are an error, not ignored.
            request = ocsp.OCSPRequest.load(request_der, strict=True)
            # asn1crypto parses lazily; parse everything now so that a bad field deep
            # inside (a mistagged issuerNameHash, say) is a malformedRequest here rather
            # than an exception, and an HTTP 500, while answering.
            request.native  # noqa: B018
            cert_ids = [item["req_cert"] for item in request["tbs_request"]["request_list"]]
            nonce_value = request.nonce_value
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            return _error_response("malformed_request")
        if not cert_ids:
            return _error_response("malformed_request")
        nonce: bytes | None = None
        if nonce_value is not None:
            nonce = bytes(nonce_value.native)
            # RFC 8954 §2.1: a nonce of 0 or more than 32 octets MUST be rejected.
            if not 1 <= len(nonce) <= _MAX_NONCE:
                return _error_response("malformed_request")

        issuer = self._issuer()
        responses = []
        for cert_id in cert_ids:
            if not self._matches_issuer(cert_id, issuer):
                return _error_response("unauthorized")
            responses.append(self._single_response(cert_id, issuer, at))
        return self._sign(responses, nonce, at)

    def _issuer(self) -> _Issuer:
        identity = self._pki.identity(ISSUING)
        return _Issuer(identity.record_id, identity.certificate)

    @staticmethod
    def _matches_issuer(cert_id: ocsp.CertId, issuer: _Issuer) -> bool:
        algorithm = cert_id["hash_algorithm"]["algorithm"].native
        hasher = _HASHES.get(algorithm)
        if hasher is None:
            return False
        name_hash = hasher(issuer.certificate.subject.dump()).digest()
        key_hash = hasher(issuer.certificate.public_key["public_key"].contents[1:]).digest()
        return bool(
            cert_id["issuer_name_hash"].native == name_hash
            and cert_id["issuer_key_hash"].native == key_hash
        )

    def _single_response(self, cert_id: ocsp.CertId, issuer: _Issuer, at: datetime) -> Any:
        serial_hex = format(cert_id["serial_number"].native, "x")
        record = self._session.scalar(
            select(CertificateRecord)
            .where(CertificateRecord.serial_hex == serial_hex)
            .where(CertificateRecord.issuer_id == issuer.record_id)
        )
        status: Any
        if record is None:
            status = ocsp.CertStatus(name="unknown", value=core.Null())
        elif record.status is CertificateStatus.REVOKED and record.revoked_at is not None \
                and record.revoked_at <= at:
            # RFC 5280 §4.1.2.5.2 (GeneralizedTime, which RFC 6960 uses): no fractional
            # seconds; the CRL shows the same whole second.
            info: dict[str, Any] = {"revocation_time": record.revoked_at.replace(microsecond=0)}
            reason = record.revocation_reason
            if reason is not None and reason is not RevocationReason.UNSPECIFIED:
                info["revocation_reason"] = reason.value
            status = ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo(info))
        else:
            status = ocsp.CertStatus(name="good", value=core.Null())
        return {
            "cert_id": cert_id,
            "cert_status": status,
            "this_update": at.replace(microsecond=0),
            "next_update": (at + self._pki.config.ocsp_lifetime).replace(microsecond=0),
        }

    def _sign(self, responses: list[Any], nonce: bytes | None, at: datetime) -> bytes:
        responder = self._pki.identity(OCSP)
        algorithm = KeyAlgorithm.of_public_key(self._keys.public_key(responder.key_handle))
        sig_alg = signature_algorithm(algorithm)
        data: dict[str, Any] = {
            "version": "v1",
            "responder_id": ocsp.ResponderId(
                name="by_key", value=responder.certificate.public_key.sha1
            ),
            "produced_at": at.replace(microsecond=0),
            "responses": responses,
        }
        if nonce is not None:
            data["response_extensions"] = [
                {"extn_id": "nonce", "critical": False, "extn_value": nonce}
            ]
        response_data = ocsp.ResponseData(data)
        signature = sign_bytes(self._keys, responder.key_handle, algorithm, response_data.dump())
        basic = ocsp.BasicOCSPResponse({
            "tbs_response_data": response_data,
            "signature_algorithm": sig_alg,
            "signature": core.OctetBitString(signature),
            "certs": [responder.certificate],
        })
        return bytes(
            ocsp.OCSPResponse({
                "response_status": "successful",
                "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
            }).dump()
        )
