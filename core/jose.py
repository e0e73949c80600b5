"""Compact JWS (RFC 7515) encoding and decoding, without keys or trust decisions.

The platform's part of JOSE: how a header, a payload and a signature become
``header.payload.signature`` (canonical JSON, unpadded base64url, ECDSA as ``r || s``),
how certificates travel in ``x5c`` and keys as JWK, and the one error a token that does
not verify raises. Signing with a key-store key and deciding whom to trust (signer paths,
pins, purposes) are the trust layer's (:mod:`zhengyin.trust.jws`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = [
    "JWSError",
    "b64url",
    "compact",
    "header_segment",
    "jwk_of",
    "payload_segment",
    "unverified_header",
    "x5c_certificates",
    "x5c_of",
]


class JWSError(Exception):
    """A signed token does not verify: one error, one message, whatever the defect."""

    code = "jws.invalid"

    def __init__(self, message: str = "the signed token does not verify",
                 *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def header_segment(alg: str, *, kid: str, typ: str = "JWT",
                   extra_headers: dict[str, Any] | None = None) -> str:
    """The base64url JOSE header (sorted keys, no spaces), for ``alg`` (``ES256``, …)."""
    header = {"alg": alg, "kid": kid, "typ": typ, **(extra_headers or {})}
    return b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


def payload_segment(payload: dict[str, Any]) -> str:
    """The base64url payload: canonical JSON (sorted keys, no spaces), UTF-8."""
    return b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True,
                             ensure_ascii=False).encode("utf-8"))


def compact(signing_input: str, signature: bytes, *, alg: str) -> str:
    """``signing_input.signature``; a DER ECDSA signature becomes ``r || s`` (RFC 7518 §3.4)."""
    if alg == "ES256":
        r, s = decode_dss_signature(signature)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{b64url(signature)}"


def jwk_of(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey,
           *, kid: str) -> dict[str, Any]:
    """The public JWK of a key (RFC 7517/7518/8037)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big"))}
    if isinstance(key, rsa.RSAPublicKey):
        rsa_numbers = key.public_numbers()
        n, e = rsa_numbers.n, rsa_numbers.e
        return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                "n": b64url(n.to_bytes((n.bit_length() + 7) // 8, "big")),
                "e": b64url(e.to_bytes((e.bit_length() + 7) // 8, "big"))}
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
            "x": b64url(raw)}


def x5c_of(certificates: list[bytes]) -> list[str]:
    """The ``x5c`` header value (standard base64 DER, leaf first, RFC 7515 §4.1.6)."""
    return [base64.b64encode(der).decode("ascii") for der in certificates]


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of ``token``, not yet verified; :class:`JWSError` if unreadable."""
    import jwt

    try:
        return jwt.get_unverified_header(token)
    except Exception as exc:
        raise JWSError() from exc


def x5c_certificates(header: dict[str, Any]) -> list[x509.Certificate]:
    """The certificates a header's ``x5c`` carries (leaf first); :class:`JWSError` if bad."""
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(item, validate=True))
                for item in header.get("x5c", [])]
    except Exception as exc:
        raise JWSError() from exc
