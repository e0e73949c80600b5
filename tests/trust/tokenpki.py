"""Certificates and tokens an attacker (or a careless CA) could make with keys of our PKI.

Each bad certificate is declared by its defect and certified by a real key: our issuing
CA's or a seal's key in the key store, or a fresh key. Tokens are signed the way the
service signs them (trust.jws.sign_compact) or with a fresh key (PyJWT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from zhengyin.core.clock import utcnow
from zhengyin.core.jose import x5c_of
from zhengyin.keys import KeyHandle, KeyStore
from zhengyin.trust.jws import sign_compact


@dataclass(frozen=True)
class Issuer:
    """Who certifies: a certificate and something that signs with its key."""

    certificate: x509.Certificate
    sign: Callable[[bytes], bytes]  # TBS bytes -> DER ECDSA-with-SHA256 signature


def stored_issuer(keystore: KeyStore, handle: KeyHandle, der: bytes) -> Issuer:
    """An issuer whose key is in our key store (the issuing CA, a seal)."""
    return Issuer(x509.load_der_x509_certificate(der),
                  lambda tbs: keystore.sign(handle, tbs, digest="sha256"))


def key_issuer(key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> Issuer:
    """An issuer whose key is a fresh one held by the test."""
    return Issuer(certificate, lambda tbs: key.sign(tbs, ec.ECDSA(hashes.SHA256())))


def der(certificate: x509.Certificate) -> bytes:
    """DER of a certificate."""
    return certificate.public_bytes(serialization.Encoding.DER)


def certify(issuer: Issuer, key: ec.EllipticCurvePublicKey, *, name: str, ca: bool = False,
            path_length: int | None = None, digital_signature: bool = True,
            ekus: tuple[str, ...] = (), not_before: datetime | None = None,
            not_after: datetime | None = None) -> x509.Certificate:
    """A certificate for public ``key`` signed by ``issuer`` (our certificates' profile)."""
    start = not_before or utcnow() - timedelta(minutes=5)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer.certificate.subject).public_key(key)
               .serial_number(x509.random_serial_number()).not_valid_before(start)
               .not_valid_after(not_after or start + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length),
                              critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=digital_signature and not ca,
                   content_commitment=not ca, key_encipherment=False, data_encipherment=False,
                   key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                   decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer.certificate.public_key()), critical=False))  # type: ignore[arg-type]
    if ekus:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in ekus]), critical=False)
    # Drafted with a throwaway key, then signed by the issuer: the TBS names
    # ecdsa-with-SHA256, which is what both kinds of issuer produce.
    draft = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    tbs = draft.tbs_certificate_bytes
    signed = asn1_x509.Certificate({
        "tbs_certificate": asn1_x509.TbsCertificate.load(tbs),
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature_value": issuer.sign(tbs),
    })
    return x509.load_der_x509_certificate(signed.dump())


def backdated_ca(days: int) -> tuple[Issuer, Issuer]:
    """A root and an issuing CA (path length 0, as ours) made ``days`` ago, held by the test."""
    root_key, issuing_key = fresh_key(), fresh_key()
    start = utcnow() - timedelta(days=days)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Backdated Root CA")])
    root = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                           critical=False)
            .sign(root_key, hashes.SHA256()))
    root_issuer = key_issuer(root_key, root)
    issuing = certify(root_issuer, issuing_key.public_key(), name="Backdated Issuing CA",
                      ca=True, path_length=0, not_before=start,
                      not_after=start + timedelta(days=3650))
    return root_issuer, key_issuer(issuing_key, issuing)


def fresh_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key held by the test."""
    return ec.generate_private_key(ec.SECP256R1())


def token_with_key(key: ec.EllipticCurvePrivateKey, chain: list[x509.Certificate],
                   payload: dict[str, Any], *, typ: str) -> str:
    """A compact JWS signed with a test key, its chain in ``x5c``."""
    return jwt.encode(payload, key, algorithm="ES256", headers={
        "typ": typ, "kid": format(chain[0].serial_number, "x"),
        "x5c": x5c_of([der(certificate) for certificate in chain])})


def token_with_stored_key(keystore: KeyStore, handle: KeyHandle, chain: list[bytes],
                          payload: dict[str, Any], *, typ: str) -> str:
    """A compact JWS signed as the service signs, with a key of our key store."""
    serial = format(x509.load_der_x509_certificate(chain[0]).serial_number, "x")
    return sign_compact(keystore, handle, payload, kid=serial, typ=typ,
                        extra_headers={"x5c": x5c_of(chain)})


def receipt_claims(at: datetime | None = None) -> dict[str, Any]:
    """A receipt-shaped payload signed at ``at`` (default now)."""
    moment = at or utcnow()
    return {"v": 1, "check_id": "forged", "iat": int(moment.timestamp()),
            "at": moment.isoformat(), "client": {"name": "intake-1"},
            "item": {"code": "11110105-FOOD-0001"}, "case_number": "C-1", "results": []}
