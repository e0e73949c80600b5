"""Compact JWS (RFC 7515) signed with a key-store key: receipts, QR payloads, tokens.

The key never leaves the store; ECDSA signatures come back DER-encoded and are converted
to the fixed-size ``r || s`` JWS expects (RFC 7518 §3.4). Verification goes through PyJWT
with the public key (or a JWK set), never through our own parsing of the signature.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys import KeyAlgorithm, KeyHandle, KeyStore, PublicKey

__all__ = [
    "JWSError",
    "b64url",
    "encoded_header",
    "jwk_of",
    "jws_algorithm",
    "sign_compact",
    "sign_with_header",
    "verify_compact",
    "x5c_of",
]


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jws_algorithm(algorithm: KeyAlgorithm) -> str:
    """The JWS ``alg`` for a key algorithm."""
    if algorithm is KeyAlgorithm.EC_P256:
        return "ES256"
    if algorithm.is_rsa:
        return "RS256"
    return "EdDSA"


def sign_compact(keystore: KeyStore, handle: KeyHandle, payload: dict[str, Any], *,
                 kid: str, typ: str = "JWT", extra_headers: dict[str, Any] | None = None,
                 algorithm: KeyAlgorithm | None = None) -> str:
    """``header.payload.signature`` over canonical JSON of ``payload``.

    A caller that signs often passes the key's ``algorithm`` (it never changes), which
    spares asking the key store for the public key each time.
    """
    if algorithm is None:
        algorithm = KeyAlgorithm.of_public_key(keystore.public_key(handle))
    header = encoded_header(algorithm, kid=kid, typ=typ, extra_headers=extra_headers)
    return sign_with_header(keystore, handle, header, payload, algorithm=algorithm)


def encoded_header(algorithm: KeyAlgorithm, *, kid: str, typ: str = "JWT",
                   extra_headers: dict[str, Any] | None = None) -> str:
    """The base64url JOSE header, for a signer that keeps it (an ``x5c`` chain is long)."""
    header = {"alg": jws_algorithm(algorithm), "kid": kid, "typ": typ, **(extra_headers or {})}
    return b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


def sign_with_header(keystore: KeyStore, handle: KeyHandle, header: str,
                     payload: dict[str, Any], *, algorithm: KeyAlgorithm) -> str:
    """:func:`sign_compact` with the header already encoded (:func:`encoded_header`)."""
    signing_input = header + "." + b64url(json.dumps(
        payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8"))
    signature = keystore.sign(handle, signing_input.encode("ascii"), digest="sha256")
    if algorithm is KeyAlgorithm.EC_P256:
        r, s = decode_dss_signature(signature)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{b64url(signature)}"


def jwk_of(key: PublicKey, *, kid: str) -> dict[str, Any]:
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
    assert isinstance(key, ed25519.Ed25519PublicKey)
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
            "x": b64url(raw)}


class JWSError(Exception):
    """A signed token does not verify: one error, one message, whatever the defect."""

    code = "jws.invalid"

    def __init__(self, message: str = "the signed token does not verify",
                 *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def x5c_of(certificates: list[bytes]) -> list[str]:
    """The ``x5c`` header value (standard base64 DER, leaf first, RFC 7515 §4.1.6)."""
    return [base64.b64encode(der).decode("ascii") for der in certificates]


def verify_compact(token: str, anchors: list[bytes], *, at: int | None = None,
                   typ: str | None = None, certificates: list[bytes] = ()  # type: ignore[assignment]
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS whose certificate chain ends at one of ``anchors`` (DER).

    The chain comes from the ``x5c`` header, or, for tokens too small to carry it (QR
    codes), from ``certificates``: the leaf is the one whose serial is the ``kid``.
    Checks: the chain links by signature to an anchor and every certificate is valid at
    ``at`` (the token's ``iat``, default); the leaf may sign (digitalSignature); the JWS
    signature verifies with the leaf's key; ``typ`` matches. Works offline: nothing is
    fetched. Returns (header, payload).
    """
    import jwt
    from cryptography import x509

    try:
        header = jwt.get_unverified_header(token)
        if "x5c" in header:
            chain = [x509.load_der_x509_certificate(base64.b64decode(item))
                     for item in header["x5c"]]
        else:
            known = [x509.load_der_x509_certificate(der) for der in certificates]
            leaf_cert = next(c for c in known if format(c.serial_number, "x") == header["kid"])
            chain = [leaf_cert, *(c for c in known if c is not leaf_cert)]
        roots = [x509.load_der_x509_certificate(der) for der in anchors]
        leaf = chain[0]
        payload = jwt.decode(token, key=leaf.public_key(),  # type: ignore[arg-type]
                             algorithms=["ES256", "RS256", "EdDSA"],
                             options={"verify_aud": False, "verify_exp": False,
                                      "verify_iat": False})
    except Exception as exc:
        raise JWSError() from exc
    when = at if at is not None else int(payload.get("iat", 0))
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            raise JWSError("the signing certificate may not sign")
        current = leaf
        for _ in range(len(chain) + 1):
            if not current.not_valid_before_utc.timestamp() <= when \
                    <= current.not_valid_after_utc.timestamp():
                raise JWSError("a certificate of the chain was not valid at signing time")
            anchor = next((root for root in roots if root.subject == current.issuer), None)
            if anchor is not None:
                current.verify_directly_issued_by(anchor)
                break
            issuer = next((c for c in chain if c.subject == current.issuer
                           and c is not current), None)
            if issuer is None:
                raise JWSError("the chain does not end at a trusted root")
            current.verify_directly_issued_by(issuer)
            current = issuer
        else:
            raise JWSError("the chain does not end at a trusted root")
    except JWSError:
        raise
    except Exception as exc:
        raise JWSError() from exc
    if typ is not None and header.get("typ") != typ:
        raise JWSError(f"not a {typ} token")
    return header, payload
