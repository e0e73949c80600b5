"""Signing ASN.1 structures (certificates, CRLs, OCSP, time-stamp tokens) with store keys.

``cryptography``'s builders want the private key in memory; ours stay in the key store,
so structures are assembled with asn1crypto and only their to-be-signed bytes go to
:meth:`keys.KeyStore.sign`.
"""

from __future__ import annotations

import hashlib

from asn1crypto import algos
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization

from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyStore, PublicKey

__all__ = [
    "digest_for",
    "key_identifier",
    "public_key_info",
    "sign_bytes",
    "signature_algorithm",
]


def signature_algorithm(algorithm: KeyAlgorithm) -> algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier our keys sign with (SHA-256, or pure Ed25519)."""
    if algorithm is KeyAlgorithm.EC_P256:
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    if algorithm.is_rsa:
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": None})
    return algos.SignedDigestAlgorithm({"algorithm": "ed25519"})


def digest_for(algorithm: KeyAlgorithm) -> str:
    """The message digest used alongside a key's signatures (CMS digestAlgorithm)."""
    return "sha512" if algorithm is KeyAlgorithm.ED25519 else "sha256"


def sign_bytes(store: KeyStore, handle: KeyHandle, algorithm: KeyAlgorithm, data: bytes) -> bytes:
    """Sign to-be-signed DER with the key behind ``handle``."""
    return store.sign(handle, data, digest="sha256")


def public_key_info(key: PublicKey) -> asn1_keys.PublicKeyInfo:
    """A public key as an asn1crypto SubjectPublicKeyInfo."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return asn1_keys.PublicKeyInfo.load(der)


def key_identifier(info: asn1_keys.PublicKeyInfo) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits."""
    return hashlib.sha1(info["public_key"].contents[1:]).digest()  # noqa: S324 - RFC 5280 method
