"""Errors raised by key stores.

Every message names the key by handle or label and says what to do next; none ever
contains key material.
"""

from __future__ import annotations

from zhengyin.core.errors import ZhengyinError

__all__ = [
    "InsecureKEKFileError",
    "KEKMismatchError",
    "KEKMissingError",
    "KeyDisabledError",
    "KeyNotFoundError",
    "KeyStoreError",
    "KeyStoreUnavailableError",
    "UnsupportedAlgorithmError",
]


class KeyStoreError(ZhengyinError):
    """Root of every key-store failure."""

    code = "keys.error"



class KEKMissingError(KeyStoreError):
    """No key-encryption key was configured for the software key store."""

    code = "keys.kek_missing"


class InsecureKEKFileError(KeyStoreError):
    """The key-encryption key file may be read by users other than its owner."""

    code = "keys.kek_file_insecure"


class KEKMismatchError(KeyStoreError):
    """The configured key-encryption key is not the one the keys were sealed under."""

    code = "keys.kek_mismatch"


class KeyNotFoundError(KeyStoreError):
    """No key with this handle exists in the store."""

    code = "keys.not_found"


class KeyDisabledError(KeyStoreError):
    """The key exists but was disabled and may not sign any more."""

    code = "keys.disabled"


class UnsupportedAlgorithmError(KeyStoreError):
    """The store or token cannot generate or use keys of this algorithm."""

    code = "keys.unsupported_algorithm"


class KeyStoreUnavailableError(KeyStoreError):
    """The backend (a PKCS#11 module or token) cannot be reached or opened."""

    code = "keys.unavailable"
