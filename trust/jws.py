"""Compact JWS signed with a key-store key, and verified along the signer's certificate path.

Receipts, QR payloads, tokens: the key never leaves the store (the encoding is
:mod:`zhengyin.core.jose`'s). Verification goes through PyJWT with the public key, never
through our own parsing of the signature, and the signer's certificate path through
cryptography's validator (:mod:`zhengyin.trust.signerpaths`) under the token's
:class:`~zhengyin.trust.purposes.SigningPurpose`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from zhengyin.core.jose import (
    JWSError,
    compact,
    header_segment,
    payload_segment,
    unverified_header,
    x5c_certificates,
)
from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyStore

from .purposes import SigningPurpose
from .signerpaths import PinnedSigner, SignerPathError, SignerTrust, validate_signer_path

__all__ = [
    "PinnedSigner",
    "SignerTrust",
    "encoded_header",
    "jws_algorithm",
    "sign_compact",
    "sign_with_header",
    "verify_compact",
]


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
    return header_segment(jws_algorithm(algorithm), kid=kid, typ=typ,
                          extra_headers=extra_headers)


def sign_with_header(keystore: KeyStore, handle: KeyHandle, header: str,
                     payload: dict[str, Any], *, algorithm: KeyAlgorithm) -> str:
    """:func:`sign_compact` with the header already encoded (:func:`encoded_header`)."""
    signing_input = header + "." + payload_segment(payload)
    signature = keystore.sign(handle, signing_input.encode("ascii"), digest="sha256")
    return compact(signing_input, signature, alg=jws_algorithm(algorithm))


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
    header = unverified_header(token)
    supplied = x5c_certificates(header)
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
