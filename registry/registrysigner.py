"""The registry's signer (receipts, display codes, status lists): one per process.

Its service identity is made on first use (or re-issued when it lacks an EKU) by
:meth:`~zhengyin.trust.identities.ServiceIdentities.ensure_chain`, under the identity's
advisory lock, so processes meeting it at once take turns and the later ones use what
the first committed. A unit of work that may not write (read-only, one-write) gets that
done in a short unit of its own; a one-write unit loads the signer before it opens
(:meth:`RegistrySigners.load`), since opening another unit inside it would deadlock SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from zhengyin.keys import KeyStore
from zhengyin.trust.identities import SYSTEM_ACTOR, ServiceIdentities
from zhengyin.trust.purposes import REGISTRY_IDENTITY

from .receipts import ServiceSigner

__all__ = ["REGISTRY_LABEL", "IdentityUnit", "RegistrySigners"]

REGISTRY_LABEL = "Licence Registry"
"""The label of the registry identity's key in the key store."""


class IdentityUnit(Protocol):
    """A unit of work as the registry signer needs it."""

    @property
    def identities(self) -> ServiceIdentities:
        """The unit's service identities."""
        ...

    def writing_unit(self) -> AbstractContextManager[IdentityUnit]:
        """This unit when it may write, else a short one of its own."""
        ...


class RegistrySigners:
    """Holds the registry signer of this process, made once (thread-safe)."""

    def __init__(self, keystore: KeyStore) -> None:
        self._keys = keystore
        self._signer: ServiceSigner | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> ServiceSigner | None:
        """The signer if this process has it already (no I/O), else None."""
        return self._signer

    def get(self, unit: IdentityUnit, *, at: datetime) -> ServiceSigner:
        """The signer; its identity made or upgraded on first use, through ``unit``."""
        with self._lock:
            if self._signer is None:
                with unit.writing_unit() as writer:
                    key = writer.identities.ensure_chain(REGISTRY_IDENTITY, at=at,
                                                         actor=SYSTEM_ACTOR,
                                                         label=REGISTRY_LABEL)
                self._signer = ServiceSigner(self._keys, key.key_handle, key.serial_hex,
                                             key.chain_der)
            return self._signer

    def load(self, open_unit: Callable[[], AbstractContextManager[IdentityUnit]], *,
             at: datetime) -> ServiceSigner:
        """The signer, loaded (on first use: made) before the caller's unit of work opens.

        For one-write units (a check), which must not write it themselves.
        """
        signer = self._signer
        if signer is None:
            with open_unit() as unit:
                signer = self.get(unit, at=at)
        return signer
