"""What the audit log hashes and signs: entry hashes and checkpoint messages.

Shared by the writer (:mod:`zhengyin.core.audit`), the verifier (:mod:`zhengyin.trust.auditverify`)
and the
off-site export (:mod:`zhengyin.trust.auditexport`), so all three agree byte for byte. Checking
a checkpoint's signature needs a key, so it lives upstairs (:mod:`zhengyin.trust.auditexport`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "MANUAL",
    "checkpoint_message",
    "entry_hash",
    "iso",
]

GENESIS_HASH = "0" * 64
MANUAL = 0
"""The ``every`` of a checkpoint signed on request (``audit checkpoint``), off the interval."""


def iso(at: datetime) -> str:
    """The time as it is hashed and signed: ISO 8601 with microseconds."""
    return at.isoformat(timespec="microseconds")


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical JSON of an entry (version 1 of the format)."""
    payload = {
        "v": 1,
        "seq": seq,
        "at": iso(at),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
        "prev": prev_hash,
    }
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def checkpoint_message(seq: int, chain_hash: str, at: datetime, every: int | None = None,
                       prev: int | None = None) -> bytes:
    """The bytes an audit checkpoint signature covers.

    Version 2 also signs ``prev``, the checkpoint before this one (0: none), so deleting
    a checkpoint leaves its successor naming it, and ``every``, the interval in force
    (:data:`MANUAL` for one signed on request), so a verifier knows from signed data when
    the next one was due. ``every`` None is version 1, written before either was signed.
    """
    if every is None:
        return f"zhengyin-audit-checkpoint-v1\n{seq}\n{chain_hash}\n{iso(at)}".encode()
    return (f"zhengyin-audit-checkpoint-v2\n{seq}\n{chain_hash}\n{iso(at)}\n{every}\n"
            f"{prev or 0}").encode()

