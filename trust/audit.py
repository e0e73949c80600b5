"""The append-only, hash-chained audit log with signed checkpoints.

Each entry's hash covers its sequence number, time, actor, action, object, details and
the previous entry's hash, so editing, deleting or reordering rows breaks the chain at
that row. Every ``checkpoint_every`` entries the service's audit key signs the chain tip;
a rewritten chain (all hashes recomputed) then disagrees with a signed checkpoint.

Writers do not wait for each other. :meth:`AuditLog.append` puts the record in the
``audit_outbox`` inside the caller's transaction, so it commits or rolls back with the
change it records; the sequencer (:mod:`trust.auditchain`) then links committed records
into the chain in batches, one ``audit_head`` row lock per batch instead of one per
business transaction. ``audit verify`` reports records still waiting in the outbox.
Bulk import, one writer of thousands of records per transaction, links its records
directly (:meth:`AuditLog.append_chained`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from keys import PublicKey

from .db import insert_rows
from .errors import AuditChainBrokenError
from .models import AuditCheckpoint, AuditEntry, AuditHead, AuditOutboxRecord
from .privacy import redact

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditRecord",
    "AuditVerification",
    "CheckpointSigner",
    "checkpoint_message",
    "entry_hash",
    "link_records",
    "lock_head",
    "outbox_batch",
    "verify_audit_chain",
    "wrote_to_outbox",
]

GENESIS_HASH = "0" * 64
_HEAD_ID = 1
_ENTRIES = cast(Table, AuditEntry.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_OUTBOX = cast(Table, AuditOutboxRecord.__table__)
_OUTBOX_WRITTEN = "zhengyin.audit_outbox_written"
_BULK_ROWS = 20  # from here on a multi-row insert (COPY on PostgreSQL) is cheaper


def _iso(at: datetime) -> str:
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
        "at": _iso(at),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
        "prev": prev_hash,
    }
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def checkpoint_message(seq: int, chain_hash: str, at: datetime) -> bytes:
    """The bytes an audit checkpoint signature covers."""
    return f"zhengyin-audit-checkpoint-v1\n{seq}\n{chain_hash}\n{_iso(at)}".encode()


@dataclass(frozen=True)
class AuditRecord:
    """One entry to append (before it has a sequence number and hash)."""

    actor: str
    action: str
    object_type: str
    object_id: str
    at: datetime
    details: dict[str, Any] | None = None


class CheckpointSigner(Protocol):
    """Signs checkpoints with the service's audit key (kept in the key store)."""

    @property
    def certificate_serial(self) -> str:
        """Serial (hex) of the certificate whose key signs."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``."""
        ...


class AuditLog:
    """Records audit entries inside the caller's transaction."""

    def __init__(
        self,
        session: Session,
        *,
        checkpoint_signer: CheckpointSigner | None = None,
        checkpoint_every: int = 1000,
    ) -> None:
        self._session = session
        self._signer = checkpoint_signer
        self._every = max(1, checkpoint_every)

    def append(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record one entry; secrets are dropped and ID numbers masked from ``details``.

        The record goes to the outbox: it commits or rolls back with the caller's change,
        and the sequencer links it into the chain after the commit.
        """
        self.append_many([AuditRecord(actor=actor, action=action, object_type=object_type,
                                      object_id=object_id, at=at, details=details)])

    def append_many(self, records: Sequence[AuditRecord]) -> None:
        """Record entries in order into the outbox.

        A few rows become ORM objects, inserted by the transaction's next flush together
        with the change they record (no statement of their own); many rows go in one
        multi-row insert (COPY on PostgreSQL).
        """
        rows = _outbox_rows(records)
        if not rows:
            return
        if len(rows) < _BULK_ROWS:
            self._session.add_all([AuditOutboxRecord(**row) for row in rows])
        else:
            insert_rows(self._session, _OUTBOX, rows)
        self._session.info[_OUTBOX_WRITTEN] = True

    def outbox_batch(self, records: Sequence[AuditRecord]
                     ) -> tuple[Table, list[dict[str, Any]]]:
        """``records`` as outbox rows, in order, for the caller to insert in this unit of work.

        For hot paths that write their own rows with Core statements and leave the ORM
        nothing to flush (a check): they insert these with theirs in one statement
        (:func:`trust.db.insert_together`), cheaper than a flush or an insert of their own.
        """
        batch = outbox_batch(records)
        if batch[1]:
            self._session.info[_OUTBOX_WRITTEN] = True
        return batch

    def append_chained(self, records: Sequence[AuditRecord]) -> range:
        """Link entries into the chain now, under the head-row lock held until commit.

        For bulk import: one writer appending thousands of entries per transaction pays
        one lock, one multi-row insert and one head update per chunk, cheaper than going
        through the outbox (a second write and delete of every row). The chain and its
        checkpoints are exactly those that appending the records one by one would give.
        Returns the entries' sequence numbers.
        """
        cleaned = [replace(record, details=redact(record.details or {})) for record in records]
        rows = link_records(self._session, cleaned, signer=self._signer, every=self._every)
        return range(rows[0]["seq"], rows[-1]["seq"] + 1) if rows else range(0)

    def checkpoint(self, at: datetime) -> AuditCheckpoint | None:
        """Sign the current chain tip now (no-op when it is already checkpointed or empty)."""
        if self._signer is None:
            return None
        head = self._session.get(AuditHead, _HEAD_ID, with_for_update=True)
        if head is None or head.seq == 0:
            return None
        if self._session.get(AuditCheckpoint, head.seq) is not None:
            return None
        return _add_checkpoint(self._session, self._signer, head.seq, head.hash, at)


def outbox_batch(records: Sequence[AuditRecord]) -> tuple[Table, list[dict[str, Any]]]:
    """``records`` as outbox rows for a statement written outside any session.

    The writer then tells the sequencer itself that records wait (a check run on the event
    loop, :mod:`trust.asyncdb`); inside a unit of work use :meth:`AuditLog.outbox_batch`.
    """
    return _OUTBOX, _outbox_rows(records)


def _outbox_rows(records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
    return [{"actor": r.actor, "action": r.action, "object_type": r.object_type,
             "object_id": r.object_id, "at": r.at, "details": redact(r.details or {})}
            for r in records]


def wrote_to_outbox(session: Session) -> bool:
    """Whether this session recorded audit entries that the sequencer has yet to chain."""
    return bool(session.info.get(_OUTBOX_WRITTEN))


def link_records(
    session: Session,
    records: Sequence[AuditRecord],
    *,
    signer: CheckpointSigner | None,
    every: int,
    head: tuple[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Append already-redacted records to the chain in the session's transaction.

    Takes the ``audit_head`` row lock first (held until the transaction ends) unless the
    caller already holds it and passes ``head``; then one bulk insert, one head update,
    and a signed checkpoint at every ``every``-th entry.
    """
    if not records:
        return []
    seq, prev_hash = head if head is not None else lock_head(session)
    rows: list[dict[str, Any]] = []
    checkpoints: list[tuple[int, str, datetime]] = []
    for record in records:
        seq += 1
        details = record.details or {}
        digest = entry_hash(
            seq=seq, at=record.at, actor=record.actor, action=record.action,
            object_type=record.object_type, object_id=record.object_id, details=details,
            prev_hash=prev_hash,
        )
        rows.append({"seq": seq, "at": record.at, "actor": record.actor,
                     "action": record.action, "object_type": record.object_type,
                     "object_id": record.object_id, "details": details,
                     "prev_hash": prev_hash, "hash": digest})
        if signer is not None and seq % max(1, every) == 0:
            checkpoints.append((seq, digest, record.at))
        prev_hash = digest
    # A bulk insert (COPY on PostgreSQL), not ORM flushes.
    insert_rows(session, _ENTRIES, rows)
    session.execute(update(_HEAD).where(_HEAD.c.id == _HEAD_ID).values(seq=seq, hash=prev_hash))
    for checkpoint_seq, chain_hash, at in checkpoints:
        assert signer is not None
        _add_checkpoint(session, signer, checkpoint_seq, chain_hash, at)
    if checkpoints:
        session.flush()
    return rows


def _add_checkpoint(session: Session, signer: CheckpointSigner, seq: int, chain_hash: str,
                    at: datetime) -> AuditCheckpoint:
    checkpoint = AuditCheckpoint(
        seq=seq,
        hash=chain_hash,
        at=at,
        certificate_serial=signer.certificate_serial,
        signature=signer.sign(checkpoint_message(seq, chain_hash, at)),
    )
    session.add(checkpoint)
    return checkpoint


def lock_head(session: Session) -> tuple[int, str]:
    """The head's sequence number and hash, taking its row lock first thing.

    PostgreSQL: ``SELECT ... FOR UPDATE`` queues concurrent linkers here until the holder
    commits. SQLite: writers already hold the database lock (BEGIN IMMEDIATE).
    """
    statement = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID).with_for_update()
    row = session.execute(statement).one_or_none()
    if row is None:
        session.execute(insert(_HEAD).values(id=_HEAD_ID, seq=0, hash=GENESIS_HASH))
        row = session.execute(statement).one()
    return int(row[0]), str(row[1])


@dataclass(frozen=True)
class AuditVerification:
    """What ``audit verify`` checked when the whole chain verified."""

    entries: int
    checkpoints: int
    last_seq: int
    last_hash: str
    pending: int = 0
    """Committed records still in the outbox, not yet chained (normally a few, briefly)."""
    oldest_pending_at: datetime | None = None


def _iter_entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def _verify_signature(key: PublicKey, signature: bytes, data: bytes) -> None:
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)


def verify_audit_chain(
    session: Session, public_key_for: Callable[[str], PublicKey]
) -> AuditVerification:
    """Recompute the whole chain and check every checkpoint signature.

    Raises :class:`AuditChainBrokenError` naming the first broken entry.
    """

    def broken(seq: int, why: str) -> AuditChainBrokenError:
        error = AuditChainBrokenError(f"audit entry {seq}: {why}")
        error.seq = seq  # type: ignore[attr-defined]
        return error

    checkpoints = {cp.seq: cp for cp in session.scalars(select(AuditCheckpoint))}
    expected, prev, count = 1, GENESIS_HASH, 0
    for entry in _iter_entries(session):
        if entry.seq != expected:
            raise broken(expected, f"missing (deleted); the chain jumps to entry {entry.seq}")
        if entry.prev_hash != prev:
            raise broken(entry.seq, "does not link to the entry before it (reordered or replaced)")
        recomputed = entry_hash(
            seq=entry.seq, at=entry.at, actor=entry.actor, action=entry.action,
            object_type=entry.object_type, object_id=entry.object_id,
            details=entry.details, prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            raise broken(entry.seq, "content was altered: it no longer matches its hash")
        checkpoint = checkpoints.get(entry.seq)
        if checkpoint is not None and checkpoint.hash != entry.hash:
            raise broken(
                entry.seq,
                "the chain up to here was rewritten: it disagrees with the signed checkpoint",
            )
        prev, expected, count = entry.hash, entry.seq + 1, count + 1

    head = session.get(AuditHead, _HEAD_ID)
    last_seq = expected - 1
    if head is not None and (head.seq != last_seq or head.hash != prev):
        raise broken(last_seq + 1, f"missing (deleted); the log's head records {head.seq} entries")
    for seq, checkpoint in sorted(checkpoints.items()):
        if seq > last_seq:
            raise broken(seq, "missing (deleted); a signed checkpoint covers it")
        try:
            _verify_signature(
                public_key_for(checkpoint.certificate_serial),
                checkpoint.signature,
                checkpoint_message(seq, checkpoint.hash, checkpoint.at),
            )
        except InvalidSignature:
            raise broken(seq, "the checkpoint signature does not verify") from None
    pending, oldest = session.execute(
        select(func.count(), func.min(_OUTBOX.c.at)).select_from(_OUTBOX)
    ).one()
    return AuditVerification(
        entries=count, checkpoints=len(checkpoints), last_seq=last_seq, last_hash=prev,
        pending=int(pending), oldest_pending_at=oldest,
    )
