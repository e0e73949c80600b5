"""Administering the key store: generate and disable keys, each change audited once.

A key's state lives in the key store (a key file, a token's ``CKA_SIGN``), not in the
database, so there is no row to lock: a disable takes a named lock for the key
(trust.locks) and decides on the store's state under it. Two administrators disabling
one key at once record one ``key.disabled``; a key disabled already is left as it is.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.core.locks import lock_name
from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyInfo, KeyStore

__all__ = ["KeyAdministration"]


class KeyAdministration:
    """Key-store changes inside the caller's unit of work."""

    def __init__(self, session: Session, keystore: KeyStore, audit: AuditLog) -> None:
        self._session = session
        self._keys = keystore
        self._audit = audit

    def generate(self, algorithm: KeyAlgorithm, label: str, *, at: datetime, actor: str
                 ) -> KeyInfo:
        """A new key in the store."""
        handle = self._keys.generate(algorithm, label)
        self._audit.append(actor=actor, action="key.created", object_type="key",
                           object_id=str(handle), at=at,
                           details={"label": label, "algorithm": algorithm.value})
        return self._keys.info(handle)

    def disable(self, handle: KeyHandle, *, at: datetime, actor: str) -> KeyInfo:
        """Forbid further signatures with a key (idempotent: audited the first time)."""
        lock_name(self._session, f"key:{handle}")
        info = self._keys.info(handle)
        if info.disabled:
            return info
        # Recorded first: if the store refuses, the record rolls back with the unit.
        self._audit.append(actor=actor, action="key.disabled", object_type="key",
                           object_id=str(handle), at=at)
        self._keys.disable(handle)
        return self._keys.info(handle)
