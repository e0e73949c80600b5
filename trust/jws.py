"""Compact JWS (RFC 7515) signed with a key-store key: receipts, QR payloads, tokens.

The key never leaves the store; ECDSA signatures come back DER-encoded and are converted
to the fixed-size ``r || s`` JWS expects (RFC 7518 §3.4). Verification goes through PyJWT
with the public key (or a JWK set), never through our own parsing of the signature, and
the signer's certificate path through cryptography's validator (:mod:`zhengyin.trust.signerpaths`)
under the token's :class:`~zhengyin.trust.purposes.SigningPurpose`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyStore, PublicKey

from .purposes import SigningPurpose
from .signerpaths import PinnedSigner, SignerPathError, SignerTrust, validate_signer_path

__all__ = [
    "JWSError",
    "PinnedSigner",
    "SignerTrust",
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


def verify_compact(token: str, trust: SignerTrust, *, purpose: SigningPurpose,
                   now: datetime | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS signed for ``purpose`` by a signer ``trust`` accepts.

    1. The header's ``typ`` is the purpose's.
    2. The signer is the ``x5c`` leaf or, in tokens too small to carry it (QR codes), the
       pinned certificate whose serial is the ``kid``.
    3. With pins, the signer is one of the purpose's pinned certificates, byte for byte:
       an ``x5c`` may add intermediates but never replaces the pinned identity.
    4. The JWS signature verifies with the signer's key.
    5. The signer's path to a trusted root validates at the token's ``iat`` (validator
       and checks: :mod:`zhengyin.trust.signerpaths`); for short-lived purposes also at ``now``.

    Works offline: nothing is fetched. Returns (header, payload); raises JWSError.
    """
    import jwt

    if not purpose.typ:
        raise ValueError(f"{purpose.name} signatures are not verified by certificate path")
    if purpose.short_lived and now is None:
        raise ValueError(f"a {purpose.name} is checked as of now: pass now")
    try:
        header = jwt.get_unverified_header(token)
        supplied = [x509.load_der_x509_certificate(base64.b64decode(item, validate=True))
                    for item in header.get("x5c", [])]
    except Exception as exc:
        raise JWSError() from exc
    if header.get("typ") != purpose.typ:
        raise JWSError(f"not a {purpose.typ} token")
    pinned = trust.pinned(purpose)
    signer, pin = _signer(header, supplied, pinned, purpose, trust)
    try:
        payload = jwt.decode(token, key=signer.public_key(),  # type: ignore[arg-type]
                             algorithms=["ES256", "RS256", "EdDSA"],
                             options={"verify_aud": False, "verify_exp": False,
                                      "verify_iat": False, "verify_nbf": False})
    except Exception as exc:
        raise JWSError() from exc
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise JWSError("the token carries no signing time (iat)")
    signed_at = datetime.fromtimestamp(iat, UTC)
    legacy = pin is not None and pin.legacy
    try:
        validate_signer_path(signer, supplied[1:], trust, purpose, legacy=legacy, at=signed_at,
                             when=f"at the signing time {signed_at:%Y-%m-%d %H:%M:%S} UTC")
        if purpose.short_lived and now is not None:
            validate_signer_path(signer, supplied[1:], trust, purpose, legacy=legacy, at=now,
                                 when="now")
    except SignerPathError as exc:
        raise JWSError(str(exc)) from None
    return header, payload


def _signer(header: dict[str, Any], supplied: list[x509.Certificate],
            pinned: tuple[PinnedSigner, ...] | None, purpose: SigningPurpose,
            trust: SignerTrust) -> tuple[x509.Certificate, PinnedSigner | None]:
    """The signing certificate, and its pin when signers are pinned."""
    from cryptography.hazmat.primitives.serialization import Encoding

    if pinned is not None and not pinned:
        raise JWSError(f"{trust.source} names no {purpose.signer}")
    if supplied:
        if pinned is None:
            return supplied[0], None
        der = supplied[0].public_bytes(Encoding.DER)
        pin = next((pin for pin in pinned if pin.der == der), None)
        if pin is None:
            raise JWSError(f"the signer is not the service identity {trust.source} names "
                           f"for a {purpose.name.replace('-', ' ')}")
        return supplied[0], pin
    if pinned is None:
        raise JWSError(f"the token names its signer by kid only: give the {purpose.signer}'s "
                       "certificate", hint="pass the trust list (--trust-list) or --signer")
    pin = next((pin for pin in pinned if pin.serial_hex == header.get("kid")), None)
    if pin is None:
        raise JWSError(f"the signer is not the service identity {trust.source} names "
                       f"for a {purpose.name.replace('-', ' ')}")
    return pin.certificate, pin
