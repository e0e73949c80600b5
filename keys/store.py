"""The one interface through which every private key in Zhengyin is generated and used.

A caller holds a :class:`KeyHandle` and asks the store to sign; the private part never
leaves the store, so the same code path works for software keys and for an HSM.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .errors import KeyNotFoundError, KeyStoreError, UnsupportedAlgorithmError

__all__ = [
    "KeyAlgorithm",
    "KeyHandle",
    "KeyInfo",
    "KeyStore",
    "PublicKey",
]

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class KeyAlgorithm(enum.StrEnum):
    """Key algorithms a store can generate.

    ECDSA P-256 is the default: it is fast and poppler's ``pdfsig`` verifies it.
    Ed25519 is allowed but flagged, because pdfsig 22.12 cannot verify Ed25519 PDF
    signatures (see :attr:`pdf_verifiable`).
    """

    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    ED25519 = "ed25519"

    @classmethod
    def parse(cls, value: str) -> KeyAlgorithm:
        """The algorithm named ``value``; an unknown name is :class:`UnsupportedAlgorithmError`."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(algorithm.value for algorithm in cls)
            raise UnsupportedAlgorithmError(
                f"unknown key algorithm {value!r}", hint=f"use one of: {names}"
            ) from None

    @property
    def pdf_verifiable(self) -> bool:
        """Whether common PDF readers (poppler 22.12, NSS) verify signatures of this kind."""
        return self is not KeyAlgorithm.ED25519

    @property
    def is_rsa(self) -> bool:
        """Whether keys of this algorithm are RSA keys."""
        return self in (KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072)

    @property
    def rsa_bits(self) -> int:
        """Modulus size for RSA algorithms."""
        if self is KeyAlgorithm.RSA_2048:
            return 2048
        if self is KeyAlgorithm.RSA_3072:
            return 3072
        raise KeyStoreError(f"{self.value} is not an RSA algorithm")

    @classmethod
    def of_public_key(cls, key: PublicKey) -> KeyAlgorithm:
        """The algorithm of an existing public key."""
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            return cls.EC_P256
        if isinstance(key, rsa.RSAPublicKey) and key.key_size in (2048, 3072):
            return cls.RSA_2048 if key.key_size == 2048 else cls.RSA_3072
        if isinstance(key, ed25519.Ed25519PublicKey):
            return cls.ED25519
        raise UnsupportedAlgorithmError(f"unsupported public key type {type(key).__name__}")


@dataclass(frozen=True, slots=True)
class KeyHandle:
    """A reference to a key inside a store: ``<backend>:<key id>``.

    Handles are safe to log, store in the database and send between processes. A handle
    that cannot name a key (empty parts, a ``:`` in the backend) is refused when built, so
    ``KeyHandle.parse(str(handle)) == handle`` always holds. A malformed handle is a
    :class:`KeyNotFoundError`: it is caller input that names no key, not a store failure.
    """

    backend: str
    key_id: str

    def __post_init__(self) -> None:
        if not self.backend or ":" in self.backend or not self.key_id:
            raise KeyNotFoundError(
                f"malformed key handle {self.backend!r}:{self.key_id!r}: "
                "expected '<backend>:<key id>'"
            )

    def __str__(self) -> str:
        return f"{self.backend}:{self.key_id}"

    @classmethod
    def parse(cls, text: str) -> KeyHandle:
        """Parse the ``backend:key_id`` form produced by ``str()``."""
        backend, sep, key_id = text.partition(":")
        if not sep or not backend or not key_id:
            raise KeyNotFoundError(
                f"malformed key handle {text!r}: expected '<backend>:<key id>'",
                hint="copy the handle exactly as `zhengyin keys list` prints it",
            )
        return cls(backend, key_id)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be known about a key without touching its private part."""

    handle: KeyHandle
    label: str
    algorithm: KeyAlgorithm
    created_at: datetime | None
    disabled: bool


def hash_for(algorithm: KeyAlgorithm, digest: str) -> hashes.HashAlgorithm:
    """The hash object for a digest name; Ed25519 hashes internally and takes none."""
    table: dict[str, hashes.HashAlgorithm] = {
        "sha256": hashes.SHA256(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
    }
    try:
        return table[digest.lower()]
    except KeyError:
        raise UnsupportedAlgorithmError(
            f"unsupported digest {digest!r} for {algorithm.value}: use sha256, sha384 or sha512"
        ) from None


class KeyStore(abc.ABC):
    """Generate, list, disable and sign with keys that never leave the store.

    Signature formats are the ones CMS, X.509 and JWS consumers expect:
    ECDSA → DER ``ECDSA-Sig-Value``; RSA → PKCS#1 v1.5; Ed25519 → the raw 64 bytes.
    """

    backend: str

    @abc.abstractmethod
    def generate(self, algorithm: KeyAlgorithm, label: str) -> KeyHandle:
        """Create a new key pair and return its handle."""

    @abc.abstractmethod
    def public_key(self, handle: KeyHandle) -> PublicKey:
        """The public half of a key (available even when the key is disabled)."""

    @abc.abstractmethod
    def sign(self, handle: KeyHandle, data: bytes, *, digest: str = "sha256") -> bytes:
        """Sign ``data`` (hashing it with ``digest``, except for Ed25519)."""

    @abc.abstractmethod
    def info(self, handle: KeyHandle) -> KeyInfo:
        """Metadata of one key."""

    @abc.abstractmethod
    def list(self) -> list[KeyInfo]:
        """Every key in the store, oldest first where the backend knows the order."""

    @abc.abstractmethod
    def disable(self, handle: KeyHandle) -> None:
        """Forbid further signatures with this key; its public half stays readable."""

    def algorithm(self, handle: KeyHandle) -> KeyAlgorithm:
        """The algorithm of a key."""
        return self.info(handle).algorithm

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing open
        """Release sessions or handles held by the store."""

    def _check_backend(self, handle: KeyHandle) -> None:
        # Not found rather than a store failure: this store holds no such key, and the
        # API maps the condition to 404 instead of 503.
        if handle.backend != self.backend:
            raise KeyNotFoundError(
                f"key {handle} belongs to the {handle.backend!r} store, "
                f"but this service uses the {self.backend!r} store",
                hint="set ZHENGYIN_KEYSTORE to the backend that holds the key",
            )
