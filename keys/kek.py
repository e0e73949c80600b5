"""The key-encryption key (KEK) that seals software private keys at rest.

The KEK comes from an environment variable or a file that only its owner may read. It is
held in one object whose ``repr`` never shows it, and is checked against a stored check
value before any key is decrypted, so a wrong KEK is a clear error at start-up instead
of garbage later.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import string
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InsecureKEKFileError, KEKMismatchError, KEKMissingError

__all__ = ["KeyEncryptionKey"]

_KEK_BYTES = 32
_NONCE_BYTES = 12


class KeyEncryptionKey:
    """A 256-bit AES-GCM key used only to wrap other keys."""

    __slots__ = ("_aead", "source")

    def __init__(self, key: bytes, *, source: str) -> None:
        if len(key) != _KEK_BYTES:
            raise KEKMissingError(
                f"the key-encryption key from {source} is {len(key)} bytes; it must be 32",
                hint="generate one with: head -c 32 /dev/urandom | base64",
            )
        self._aead = AESGCM(key)
        self.source = source

    def __repr__(self) -> str:
        return f"KeyEncryptionKey(source={self.source!r})"

    @classmethod
    def from_text(cls, text: str, *, source: str) -> KeyEncryptionKey:
        """Parse a KEK written as hex (64 chars) or base64 (44 chars)."""
        text = text.strip()
        # Text made of hex digits only is hex: base64 of 32 bytes always ends in "=", so
        # it never qualifies, and a short hex key is reported with its real length.
        is_hex = bool(text) and all(c in string.hexdigits for c in text)
        try:
            raw = bytes.fromhex(text) if is_hex else base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            # The text itself is never quoted: it may be a mistyped key.
            raise KEKMissingError(
                f"the key-encryption key from {source} is neither base64 nor hex",
                hint="generate one with: head -c 32 /dev/urandom | base64",
            ) from None
        return cls(raw, source=source)

    @classmethod
    def from_file(cls, path: Path) -> KeyEncryptionKey:
        """Read a KEK file, refusing one that group or others may read or write."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise KEKMissingError(
                f"key-encryption key file {path} does not exist",
                hint="create it with: (umask 077; head -c 32 /dev/urandom | base64 > FILE)",
            ) from None
        except OSError as exc:
            raise KEKMissingError(
                f"cannot open key-encryption key file {path}: {exc.strerror}",
                hint="check the path and that the service user owns the file",
            ) from None
        # The mode is checked on the open descriptor, so the file checked is the file read.
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise InsecureKEKFileError(
                    f"key-encryption key file {path} is accessible by group or others "
                    f"(mode {stat.S_IMODE(mode):o}); refusing to use it",
                    hint=f"run: chmod 600 {path}",
                )
            content = handle.read()
        try:
            text = content.decode("ascii")
        except UnicodeDecodeError:
            raise KEKMissingError(
                f"the key-encryption key file {path} is not base64 or hex text",
                hint="generate one with: head -c 32 /dev/urandom | base64",
            ) from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def create_file(cls, path: Path) -> KeyEncryptionKey:
        """Create a new random KEK file readable by its owner only (development mode).

        The file appears complete or not at all (written aside, then linked into place),
        and an existing file is never replaced: ``FileExistsError`` is raised instead.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.urandom(8).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(base64.b64encode(os.urandom(_KEK_BYTES)).decode("ascii") + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, path)
        finally:
            tmp.unlink()
        return cls.from_file(path)

    def wrap(self, plaintext: bytes, *, context: bytes) -> tuple[bytes, bytes]:
        """Encrypt ``plaintext`` bound to ``context``; returns ``(nonce, ciphertext)``."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, plaintext, context)

    def unwrap(self, nonce: bytes, ciphertext: bytes, *, context: bytes, what: str) -> bytes:
        """Decrypt a wrapped value; a wrong KEK or tampered data is a :class:`KEKMismatchError`."""
        try:
            return self._aead.decrypt(nonce, ciphertext, context)
        except InvalidTag:
            raise KEKMismatchError(
                f"the key-encryption key from {self.source} does not open {what}: "
                "wrong key-encryption key, or the stored data was altered",
                hint="configure the KEK this key store was created with (ZHENGYIN_KEK or "
                "ZHENGYIN_KEK_FILE)",
            ) from None
