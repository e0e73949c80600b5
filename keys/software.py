"""Software key store: private keys encrypted at rest under the key-encryption key.

Layout of the store directory::

    kek-check.json     AES-GCM check value proving the configured KEK is the right one
    <key id>.json      one file per key: metadata, public key, wrapped PKCS#8 private key

The wrapped key is bound (as AES-GCM associated data) to its key id and algorithm, so a
key file renamed, swapped for another store's or edited fails to open with a
:class:`KEKMismatchError` instead of signing with the wrong key.

Decrypted keys are cached per process because parsing an RSA key with validation costs
about 40 ms; the cache holds ``cryptography`` key objects that are never returned. Each
signature still re-reads the small key file, so a key disabled by any process is refused
at once; only a changed sealed key is unwrapped again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from .errors import (
    KEKMismatchError,
    KeyDisabledError,
    KeyNotFoundError,
    KeyStoreError,
    UnsupportedAlgorithmError,
)
from .kek import KeyEncryptionKey
from .store import KeyAlgorithm, KeyHandle, KeyInfo, KeyStore, PublicKey, hash_for

__all__ = ["SoftwareKeyStore"]

_FORMAT = "zhengyin-software-key-v1"
_CHECK_FILE = "kek-check.json"
_CHECK_PLAINTEXT = b"zhengyin key-encryption key check v1"
_HEX = frozenset("0123456789abcdef")
_KEY_FIELDS = {
    "format": str, "key_id": str, "label": str, "algorithm": str, "created_at": str,
    "disabled": bool, "public_key": str, "nonce": str, "ciphertext": str,
}

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(slots=True)
class _Loaded:
    """A decrypted key and the sealed bytes it came from (to notice a replaced key)."""

    private_key: PrivateKey = field(repr=False)
    algorithm: KeyAlgorithm
    sealed_digest: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _context(key_id: str, algorithm: KeyAlgorithm) -> bytes:
    return f"{_FORMAT}|{key_id}|{algorithm.value}".encode()


def _is_key_id(text: str) -> bool:
    # Key ids are uuid4().hex: 32 lower-case hex digits.
    return len(text) == 32 and all(c in _HEX for c in text)


def _generate_private(algorithm: KeyAlgorithm) -> PrivateKey:
    if algorithm is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm.is_rsa:
        return rsa.generate_private_key(public_exponent=65537, key_size=algorithm.rsa_bits)
    if algorithm is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    raise UnsupportedAlgorithmError(f"cannot generate {algorithm.value} keys")


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_aside(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` to a new owner-only file next to ``path`` and return its name."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` with ``document``; readers see the old file or the new one."""
    tmp = _write_aside(path, document)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_new(path: Path, document: dict[str, Any]) -> bool:
    """Create ``path`` with ``document`` unless it exists; whether this call created it."""
    tmp = _write_aside(path, document)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


class SoftwareKeyStore(KeyStore):
    """Keys as AES-256-GCM wrapped PKCS#8 files in one directory."""

    backend = "software"

    def __init__(self, directory: Path, kek: KeyEncryptionKey) -> None:
        self._dir = directory
        self._kek = kek
        self._loaded: dict[str, _Loaded] = {}
        self._documents: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._check_kek()

    def __repr__(self) -> str:
        return f"SoftwareKeyStore({str(self._dir)!r})"

    # ------------------------------------------------------------------ the KEK check

    def _check_kek(self) -> None:
        """Prove the KEK is the store's own before anything is decrypted or added.

        1. If the check value exists, it must open under the KEK.
        2. If it is missing, every existing key must open under the KEK; only then is a
           check value written. Writing one blindly would let a wrong KEK claim a store
           whose check file was lost, locking out the right KEK for good.
        3. The check value is created, never replaced, so two processes starting on an
           empty directory with different KEKs cannot both win: the loser re-checks.
        """
        check_path = self._dir / _CHECK_FILE
        if not check_path.exists():
            for path in self._key_paths():
                document = self._parse(path)
                self._unwrap(document, KeyHandle(self.backend, path.stem),
                             what=f"key {self.backend}:{path.stem} (and {check_path} is "
                             "missing)")
            nonce, sealed = self._kek.wrap(_CHECK_PLAINTEXT, context=_CHECK_PLAINTEXT)
            document = {"format": _FORMAT, "nonce": _b64(nonce), "ciphertext": _b64(sealed)}
            if _write_new(check_path, document):
                return
        try:
            document = json.loads(check_path.read_text(encoding="utf-8"))
            nonce, sealed = _unb64(document["nonce"]), _unb64(document["ciphertext"])
        except (OSError, ValueError, KeyError, TypeError, binascii.Error):
            raise KeyStoreError(
                f"the KEK check value {check_path} is unreadable or corrupt",
                hint="restore it from a backup of the key store directory",
            ) from None
        plaintext = self._kek.unwrap(nonce, sealed, context=_CHECK_PLAINTEXT,
                                     what=f"the key store at {self._dir}")
        if plaintext != _CHECK_PLAINTEXT:  # pragma: no cover - GCM already authenticates
            raise KeyStoreError(f"corrupt KEK check value in {check_path}")

    # ------------------------------------------------------------------ key files

    def _key_paths(self) -> list[Path]:
        return [path for path in self._dir.glob("*.json") if _is_key_id(path.stem)]

    def _path(self, key_id: str) -> Path:
        # Only key ids name files, so a handle cannot point outside the store.
        if not _is_key_id(key_id):
            raise KeyNotFoundError(f"no software key {key_id!r}: malformed key id")
        return self._dir / f"{key_id}.json"

    def _parse(self, path: Path) -> dict[str, Any]:
        """Read and shape-check one key file; its name must be the key id it holds."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeyNotFoundError(
                f"no key {self.backend}:{path.stem} in {self._dir}") from None
        except (OSError, ValueError):
            document = None
        if not isinstance(document, dict) or any(
            not isinstance(document.get(name), kind) for name, kind in _KEY_FIELDS.items()
        ) or document["format"] != _FORMAT:
            raise KeyStoreError(
                f"key file {path} is unreadable or corrupt",
                hint="restore it from a backup of the key store directory",
            )
        if document["key_id"] != path.stem:
            raise KEKMismatchError(
                f"key file for {self.backend}:{path.stem} holds key {document['key_id']}: "
                "it was replaced or renamed",
                hint="restore the key file from a backup of this key store",
            )
        return document

    def _read(self, handle: KeyHandle) -> dict[str, Any]:
        """The key file's document, re-parsed only when the file changed.

        Every signature reads the file (another process may have disabled the key); a
        ``stat`` tells whether it changed. Key files are replaced atomically (a new inode),
        so an unchanged (inode, size, mtime) is an unchanged file.
        """
        self._check_backend(handle)
        path = self._path(handle.key_id)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise KeyNotFoundError(
                f"no key {self.backend}:{path.stem} in {self._dir}") from None
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        cached = self._documents.get(handle.key_id)
        if cached is not None and cached[0] == stamp:
            return dict(cached[1])
        document = self._parse(path)
        self._documents[handle.key_id] = (stamp, document)
        return dict(document)

    def _algorithm_of(self, document: dict[str, Any], handle: KeyHandle) -> KeyAlgorithm:
        try:
            return KeyAlgorithm(document["algorithm"])
        except ValueError:
            raise KeyStoreError(
                f"key {handle} names an unknown algorithm {document['algorithm']!r}",
                hint="restore the key file from a backup of this key store",
            ) from None

    def _unwrap(self, document: dict[str, Any], handle: KeyHandle, *, what: str) -> bytes:
        algorithm = self._algorithm_of(document, handle)
        try:
            nonce, sealed = _unb64(document["nonce"]), _unb64(document["ciphertext"])
        except (ValueError, binascii.Error):
            raise KeyStoreError(f"key file for {handle} is corrupt",
                                hint="restore it from a backup of this key store") from None
        return self._kek.unwrap(nonce, sealed, context=_context(handle.key_id, algorithm),
                                what=what)

    def _info(self, document: dict[str, Any]) -> KeyInfo:
        handle = KeyHandle(self.backend, document["key_id"])
        try:
            created_at = datetime.fromisoformat(document["created_at"])
        except ValueError:
            raise KeyStoreError(f"key file for {handle} is corrupt",
                                hint="restore it from a backup of this key store") from None
        return KeyInfo(
            handle=handle,
            label=document["label"],
            algorithm=self._algorithm_of(document, handle),
            created_at=created_at,
            disabled=document["disabled"],
        )

    # ------------------------------------------------------------------ the interface

    def generate(self, algorithm: KeyAlgorithm, label: str) -> KeyHandle:
        """Generate a key, wrap it under the KEK and write it atomically."""
        algorithm = KeyAlgorithm.parse(algorithm)
        key_id = uuid.uuid4().hex
        private = _generate_private(algorithm)
        pkcs8 = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce, sealed = self._kek.wrap(pkcs8, context=_context(key_id, algorithm))
        del pkcs8
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_atomically(
            self._path(key_id),
            {
                "format": _FORMAT,
                "key_id": key_id,
                "label": label,
                "algorithm": algorithm.value,
                "created_at": datetime.now(UTC).isoformat(),
                "disabled": False,
                "public_key": public_pem.decode("ascii"),
                "nonce": _b64(nonce),
                "ciphertext": _b64(sealed),
            },
        )
        return KeyHandle(self.backend, key_id)

    def public_key(self, handle: KeyHandle) -> PublicKey:
        """The public half of the sealed private key.

        It is taken from the decrypted key, not from the file's unauthenticated
        ``public_key`` field, so an edited file cannot get a foreign key certified.
        """
        private_key = self._load(handle)[0].private_key
        return private_key.public_key()

    def info(self, handle: KeyHandle) -> KeyInfo:
        """Metadata of one key."""
        return self._info(self._read(handle))

    def list(self) -> list[KeyInfo]:
        """Every key file in the directory, oldest first."""
        infos = [self._info(self._parse(path)) for path in self._key_paths()]
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(infos, key=lambda info: (info.created_at or oldest, info.label))

    def disable(self, handle: KeyHandle) -> None:
        """Mark the key disabled; every process refuses it from its next signature."""
        with self._lock:
            document = self._read(handle)
            document["disabled"] = True
            _write_atomically(self._path(handle.key_id), document)

    def _load(self, handle: KeyHandle) -> tuple[_Loaded, bool]:
        """The decrypted key (cached) and whether the key file now says it is disabled."""
        document = self._read(handle)
        disabled: bool = document["disabled"]
        sealed_digest = hashlib.sha256(
            f"{document['algorithm']}|{document['nonce']}|{document['ciphertext']}".encode()
        ).digest()
        cached = self._loaded.get(handle.key_id)
        if cached is not None and cached.sealed_digest == sealed_digest:
            return cached, disabled
        with self._lock:
            algorithm = self._algorithm_of(document, handle)
            pkcs8 = self._unwrap(document, handle, what=f"key {handle}")
            try:
                private = serialization.load_der_private_key(pkcs8, password=None)
            except ValueError:
                raise KeyStoreError(f"key {handle} does not hold a readable private key"
                                    ) from None
            finally:
                del pkcs8
            if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
                              | ed25519.Ed25519PrivateKey) \
                    or KeyAlgorithm.of_public_key(private.public_key()) is not algorithm:
                raise KeyStoreError(f"key {handle} does not hold a {algorithm.value} key")
            # The public key in the file is not covered by the AEAD tag; it must be the
            # sealed key's own, or the file was edited.
            try:
                stored_public = serialization.load_pem_public_key(
                    document["public_key"].encode("ascii"))
                stored_spki = stored_public.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            except (ValueError, UnicodeEncodeError):
                stored_spki = b""
            if stored_spki != _spki(private.public_key()):
                raise KEKMismatchError(
                    f"key file for {handle} was altered: its public key is not the public "
                    "half of its sealed private key",
                    hint="restore the key file from a backup of this key store",
                )
            loaded = _Loaded(private, algorithm, sealed_digest)
            self._loaded[handle.key_id] = loaded
            return loaded, disabled

    def sign(self, handle: KeyHandle, data: bytes, *, digest: str = "sha256") -> bytes:
        """Sign with the cached key; refuses a disabled key."""
        loaded, disabled = self._load(handle)
        if disabled:
            raise KeyDisabledError(f"key {handle} is disabled and may not sign",
                                   hint="sign with another key")
        key = loaded.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_for(loaded.algorithm, digest)))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hash_for(loaded.algorithm, digest))
        return key.sign(data)
