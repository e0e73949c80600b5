"""Key generation, storage and use behind one :class:`KeyStore` interface.

The safe path: open a store with :func:`open_key_store`, keep the :class:`KeyHandle` it
returns, and sign by handle. Private keys never leave the store.
"""

from __future__ import annotations

from .config import KeyStoreConfig, open_key_store
from .errors import (
    InsecureKEKFileError,
    KEKMismatchError,
    KEKMissingError,
    KeyDisabledError,
    KeyNotFoundError,
    KeyStoreError,
    KeyStoreUnavailableError,
    UnsupportedAlgorithmError,
)
from .kek import KeyEncryptionKey
from .store import KeyAlgorithm, KeyHandle, KeyInfo, KeyStore, PublicKey

__all__ = [
    "InsecureKEKFileError",
    "KEKMismatchError",
    "KEKMissingError",
    "KeyAlgorithm",
    "KeyDisabledError",
    "KeyEncryptionKey",
    "KeyHandle",
    "KeyInfo",
    "KeyNotFoundError",
    "KeyStore",
    "KeyStoreConfig",
    "KeyStoreError",
    "KeyStoreUnavailableError",
    "PublicKey",
    "UnsupportedAlgorithmError",
    "open_key_store",
]
