"""How to open the configured key store; picklable so worker processes can open their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import KEKMissingError, KeyStoreError
from .kek import KeyEncryptionKey
from .store import KeyStore

__all__ = ["KeyStoreConfig", "open_key_store"]


@dataclass(frozen=True)
class KeyStoreConfig:
    """Key-store settings. Secrets are excluded from ``repr`` so they never reach a log."""

    backend: str = "software"
    directory: Path | None = None
    kek_text: str | None = field(default=None, repr=False)
    kek_file: Path | None = None
    create_kek_file: bool = False
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: str | None = field(default=None, repr=False)


def _software_kek(config: KeyStoreConfig) -> KeyEncryptionKey:
    if config.kek_text and config.kek_file is not None:
        # Two sources could name two different keys; guessing one would fail later, or
        # worse, seal new keys under the wrong one.
        raise KeyStoreError(
            "both ZHENGYIN_KEK and ZHENGYIN_KEK_FILE are set; refusing to choose",
            hint="set exactly one of ZHENGYIN_KEK and ZHENGYIN_KEK_FILE",
        )
    if config.kek_text:
        return KeyEncryptionKey.from_text(config.kek_text, source="ZHENGYIN_KEK")
    if config.kek_file is not None:
        if config.create_kek_file and not config.kek_file.exists():
            try:
                return KeyEncryptionKey.create_file(config.kek_file)
            except FileExistsError:
                pass  # Another process created it first; use theirs.
        return KeyEncryptionKey.from_file(config.kek_file)
    raise KEKMissingError(
        "no key-encryption key configured for the software key store",
        hint="set ZHENGYIN_KEK (base64, 32 bytes) or ZHENGYIN_KEK_FILE",
    )


def open_key_store(config: KeyStoreConfig) -> KeyStore:
    """Open the store named by ``config.backend``."""
    if config.backend == "software":
        from .software import SoftwareKeyStore

        if config.directory is None:
            raise KeyStoreError("the software key store needs a directory")
        return SoftwareKeyStore(config.directory, _software_kek(config))
    if config.backend == "pkcs11":
        from .pkcs11 import PKCS11KeyStore

        if not (config.pkcs11_module and config.pkcs11_token and config.pkcs11_pin):
            raise KeyStoreError(
                "the PKCS#11 key store needs a module, a token label and a PIN",
                hint="set ZHENGYIN_PKCS11_MODULE, ZHENGYIN_PKCS11_TOKEN and "
                "ZHENGYIN_PKCS11_PIN (or ZHENGYIN_PKCS11_PIN_FILE)",
            )
        return PKCS11KeyStore(config.pkcs11_module, config.pkcs11_token, config.pkcs11_pin)
    raise KeyStoreError(
        f"unknown key store backend {config.backend!r}", hint="use 'software' or 'pkcs11'"
    )
