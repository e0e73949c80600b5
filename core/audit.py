"""The append-only, hash-chained audit log with signed checkpoints.

Each entry's hash covers its sequence number, time, actor, action, object, details and
the previous entry's hash, so editing, deleting or reordering rows breaks the chain at
that row. Every ``checkpoint_every`` entries the service's audit key signs the chain tip;
a rewritten chain (all hashes recomputed) then disagrees with a signed checkpoint, and
deleting checkpoints leaves an interval without one, which ``audit verify`` names
(:mod:`zhengyin.trust.auditverify`). Checkpoints exported off-site
(:mod:`zhengyin.trust.auditexport`) also prove how far the log once reached.

Writers do not wait for each other. :meth:`AuditLog.append` puts the record in the
``audit_outbox`` inside the caller's transaction, so it commits or rolls back with the
change it records; the sequencer (:mod:`zhengyin.core.auditchain`) then links committed records
into the chain in batches, one ``audit_head`` row lock per batch instead of one per
business transaction. ``audit verify`` reports records still waiting in the outbox.
Bulk import, one writer of thousands of records per transaction, links its records
directly (:meth:`AuditLog.append_chained`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from .auditformat import GENESIS_HASH, MANUAL, checkpoint_message, entry_hash
from .db import insert_rows
from .errors import AuditSignerMissingError
from .models import AuditCheckpoint, AuditEntry, AuditHead, AuditOutboxRecord
from .privacy import redact

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditRecord",
    "CheckpointSigner",
    "checkpoint_message",
    "entry_hash",
    "link_records",
    "lock_head",
    "outbox_batch",
    "wrote_to_outbox",
]

_HEAD_ID = 1
_ENTRIES = cast(Table, AuditEntry.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)
_OUTBOX = cast(Table, AuditOutboxRecord.__table__)
_OUTBOX_WRITTEN = "zhengyin.audit_outbox_written"
_BULK_ROWS = 20  # from here on a multi-row insert (COPY on PostgreSQL) is cheaper


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

    def entries(self, *, after: int, limit: int, object_type: str | None = None,
                object_id: str | None = None) -> list[AuditEntry]:
        """Chained entries after sequence number ``after``, in order, at most ``limit``."""
        query = select(AuditEntry).where(AuditEntry.seq > after)
        if object_type:
            query = query.where(AuditEntry.object_type == object_type)
        if object_id:
            query = query.where(AuditEntry.object_id == object_id)
        return list(self._session.scalars(query.order_by(AuditEntry.seq).limit(limit)))

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
        (:func:`zhengyin.core.db.insert_together`), cheaper than a flush or an insert of their own.
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
        """Sign the current chain tip now (no-op when it is already checkpointed or empty).

        Such a checkpoint proves the entries up to the tip before the next interval ends
        (an export then covers them); it does not stand in for the next one at the interval.
        """
        if self._signer is None:
            return None
        head = self._session.get(AuditHead, _HEAD_ID, with_for_update=True)
        if head is None or head.seq == 0:
            return None
        if self._session.get(AuditCheckpoint, head.seq) is not None:
            return None
        return _add_checkpoint(self._session, self._signer, head.seq, head.hash, at,
                               every=MANUAL, prev=_last_checkpoint(self._session))


def outbox_batch(records: Sequence[AuditRecord]) -> tuple[Table, list[dict[str, Any]]]:
    """``records`` as outbox rows for a statement written outside any session.

    The writer then tells the sequencer itself that records wait (a check run on the event
    loop, :mod:`zhengyin.core.asyncdb`); inside a unit of work use :meth:`AuditLog.outbox_batch`.
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
    and a signed checkpoint at every ``every``-th entry. The lock makes the linker of an
    entry at a multiple of ``every`` the only one that can sign its checkpoint, so there
    is exactly one per interval. Without a ``signer`` nothing that needs a checkpoint is
    linked (:class:`AuditSignerMissingError`): an entry past a missing checkpoint could
    never be told from a deleted one.
    """
    if not records:
        return []
    every = max(1, every)
    seq, prev_hash = head if head is not None else lock_head(session)
    if signer is None and (seq + len(records)) // every > seq // every:
        raise AuditSignerMissingError(
            f"audit entry {(seq // every + 1) * every} needs a signed checkpoint and there "
            "is no audit identity to sign it",
            hint="run: zhengyin pki init")
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
        if seq % every == 0:
            checkpoints.append((seq, digest, record.at))
        prev_hash = digest
    # A bulk insert (COPY on PostgreSQL), not ORM flushes.
    insert_rows(session, _ENTRIES, rows)
    session.execute(update(_HEAD).where(_HEAD.c.id == _HEAD_ID).values(seq=seq, hash=prev_hash))
    prev = _last_checkpoint(session) if checkpoints else 0
    for checkpoint_seq, chain_hash, at in checkpoints:
        assert signer is not None
        _add_checkpoint(session, signer, checkpoint_seq, chain_hash, at, every=every,
                        prev=prev)
        prev = checkpoint_seq
    return rows


def _last_checkpoint(session: Session) -> int:
    """The newest checkpoint's sequence (0: none); read under the head lock."""
    return int(session.scalar(select(func.max(_CHECKPOINTS.c.seq))) or 0)


def _add_checkpoint(session: Session, signer: CheckpointSigner, seq: int, chain_hash: str,
                    at: datetime, *, every: int, prev: int) -> AuditCheckpoint:
    checkpoint = AuditCheckpoint(
        seq=seq,
        hash=chain_hash,
        at=at,
        every=every,
        prev=prev,
        certificate_serial=signer.certificate_serial,
        signature=signer.sign(checkpoint_message(seq, chain_hash, at, every, prev)),
    )
    session.add(checkpoint)
    session.flush()  # the next checkpoint of this transaction reads it as its predecessor
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
