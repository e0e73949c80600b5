"""Run in a fresh process: open a PKCS#11 store the moment every sibling is ready."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier


def open_at_barrier(barrier: Barrier, module: str, label: str, pin: str) -> str:
    """Open a store once ``barrier`` releases; say how it went (never the PIN)."""
    from zhengyin.keys import KeyStoreUnavailableError
    from zhengyin.keys.pkcs11 import PKCS11KeyStore

    barrier.wait()
    try:
        PKCS11KeyStore(module, label, pin).close()
    except KeyStoreUnavailableError as exc:
        return str(exc)
    return "opened"
