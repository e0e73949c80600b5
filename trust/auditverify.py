"""``audit verify``: the chain is whole, and signed checkpoints prove it is complete.

One pass over the log in sequence order, a page at a time (memory does not grow with the
log; 1.2 M entries are read, never held):

1. Every entry links to the one before and matches its hash; a gap in the sequence is
   a deleted entry.
2. Every signed checkpoint matches the entry it signs, its signature verifies with the
   audit key held in the key store, and the checkpoint it names as the one before it
   is the last one found: a deleted checkpoint is named by its successor.
3. After the newest checkpoint, the next is due at the next multiple of the interval
   (``ZHENGYIN_AUDIT_CHECKPOINT_EVERY``, or the one the newest checkpoint signed, which
   ever puts it later): an entry at or past it means checkpoints were deleted, named
   with the entries left unproven. Entries short of it are reported as not yet
   checkpointed (normal: the next checkpoint is not due).
4. Held against exported checkpoints (``--against``): each must match the entry and the
   checkpoint row at its sequence, and the log must reach the newest one, so a log cut
   back to an earlier checkpoint with its head fixed is found too.
5. The head row agrees with the last entry; records still in the outbox are counted.

Reads run under READ COMMITTED on PostgreSQL, a statement per page: entries linked while
the pass runs are read too (an entry and its checkpoint commit together, and the
checkpoints of a page are read after the page), and the head is re-read until it agrees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cryptography.exceptions import InvalidSignature
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from zhengyin.core.auditformat import GENESIS_HASH, MANUAL, checkpoint_message, entry_hash
from zhengyin.core.errors import (
    AuditChainBrokenError,
    AuditCheckpointMissingError,
    AuditExportError,
)
from zhengyin.core.models import AuditCheckpoint, AuditEntry, AuditHead, AuditOutboxRecord
from zhengyin.keys import PublicKey

from .auditexport import ExportedCheckpoint, verify_signature
from .errors import CertificateNotFoundError

__all__ = ["DEFAULT_EVERY", "AuditVerification", "verify_audit_chain"]

DEFAULT_EVERY = 1000
_Row = Any  # a Core result row (entry or checkpoint columns by name)
_HEAD_ID = 1
_ENTRIES = cast(Table, AuditEntry.__table__)
_CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)
_OUTBOX = cast(Table, AuditOutboxRecord.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_PAGE = select(_ENTRIES.c.seq, _ENTRIES.c.at, _ENTRIES.c.actor, _ENTRIES.c.action,
               _ENTRIES.c.object_type, _ENTRIES.c.object_id, _ENTRIES.c.details,
               _ENTRIES.c.prev_hash, _ENTRIES.c.hash).order_by(_ENTRIES.c.seq)
_HINT = ("a row was edited, deleted or rewritten outside the service; hold the log against "
         "checkpoints exported off-site: zhengyin audit verify --against FILE")
_MISSING_HINT = ("checkpoint rows were deleted (with the entries after them, if the head "
                 "was fixed); hold the log against checkpoints exported off-site: "
                 "zhengyin audit verify --against FILE")


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
    last_checkpoint: int = 0
    """The newest signed checkpoint's entry (0: none yet)."""
    interval: int = DEFAULT_EVERY
    """The checkpoint interval in force at the tip."""
    exported: int = 0
    """Exported checkpoints the log was held against."""
    last_exported: int = 0

    @property
    def not_checkpointed(self) -> int:
        """Entries after the newest checkpoint: linked, their checkpoint not yet due."""
        return self.last_seq - self.last_checkpoint


def _broken(seq: int, why: str) -> AuditChainBrokenError:
    return AuditChainBrokenError(f"audit entry {seq}: {why}", seq=seq, hint=_HINT)


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}–{last}"


class _Exports:
    """Exported checkpoints as a stream that the walk consumes in sequence order."""

    def __init__(self, exported: Iterable[ExportedCheckpoint]) -> None:
        self._items: Iterator[ExportedCheckpoint] = iter(exported)
        self.next: ExportedCheckpoint | None = None
        self.count = 0
        self.last = 0
        self._advance()

    def _advance(self) -> None:
        following = next(self._items, None)
        if following is not None and following.seq <= self.last:
            raise AuditExportError(
                f"exported checkpoints, line {following.line}: checkpoint {following.seq} "
                f"comes after {self.last}; the file is not in sequence order")
        self.next = following
        if following is not None:
            self.count, self.last = self.count + 1, following.seq

    def newest(self) -> ExportedCheckpoint:
        """Read (and so verify) the rest of the export; its newest checkpoint."""
        newest = self.next
        assert newest is not None
        while self.next is not None:
            newest = self.next
            self._advance()
        return newest

    def take(self, seq: int) -> ExportedCheckpoint | None:
        """The exported checkpoint at ``seq``, if the export has one."""
        if self.next is None or self.next.seq != seq:
            return None
        found = self.next
        self._advance()
        return found


class _Walk:
    """The state of one pass: where the chain is, the newest checkpoint found so far."""

    def __init__(self, key_of: Callable[[str], PublicKey], configured: int,
                 exports: _Exports) -> None:
        self._key_of = key_of
        self._keys: dict[str, PublicKey] = {}
        self.configured = configured
        self.signed_interval: int | None = None
        self.expected, self.prev = 1, GENESIS_HASH
        self.checkpoints = self.last_checkpoint = 0
        self.exports = exports

    def entry(self, row: _Row, checkpoint: _Row | None) -> None:
        """Check one entry, the export's checkpoint at it and its own, in that order."""
        seq = row.seq
        if seq != self.expected:
            raise _broken(self.expected, f"missing (deleted); the chain jumps to entry {seq}")
        if row.prev_hash != self.prev:
            raise _broken(seq, "does not link to the entry before it (reordered or replaced)")
        recomputed = entry_hash(seq=seq, at=row.at, actor=row.actor, action=row.action,
                                object_type=row.object_type, object_id=row.object_id,
                                details=row.details, prev_hash=row.prev_hash)
        if recomputed != row.hash:
            raise _broken(seq, "content was altered: it no longer matches its hash")
        exported = self.exports.take(seq)
        if exported is not None:
            _against(row, checkpoint, exported)
        if checkpoint is not None:
            self._checkpoint(row, checkpoint)
        self.prev, self.expected = row.hash, seq + 1

    def _checkpoint(self, row: _Row, checkpoint: _Row) -> None:
        seq = row.seq
        if checkpoint.hash != row.hash:
            raise _broken(seq, "the chain up to here was rewritten: it disagrees with the "
                               "signed checkpoint")
        serial = checkpoint.certificate_serial
        try:
            key = self._keys.get(serial) or self._keys.setdefault(serial, self._key_of(serial))
            verify_signature(key, checkpoint.signature, checkpoint_message(
                seq, checkpoint.hash, checkpoint.at, checkpoint.every, checkpoint.prev))
        except InvalidSignature:
            raise _broken(seq, "the checkpoint signature does not verify") from None
        except CertificateNotFoundError as exc:
            raise _broken(seq, f"the checkpoint is not signed by the audit key ({exc.message})"
                          ) from None
        previous = checkpoint.prev
        if previous is not None and previous != self.last_checkpoint:
            if previous > self.last_checkpoint:
                raise AuditCheckpointMissingError(
                    f"audit checkpoint {previous} is missing (deleted): the signed "
                    f"checkpoint {seq} names it as the one before it"
                    + (f" (the last found is {self.last_checkpoint})"
                       if self.last_checkpoint else ""),
                    missing=(previous, previous, 1),
                    unproven=(self.last_checkpoint + 1, previous), hint=_MISSING_HINT)
            raise _broken(seq, f"the signed checkpoint names {previous} as the one before "
                               f"it, but checkpoint {self.last_checkpoint} lies between")
        if checkpoint.every not in (None, MANUAL):
            self.signed_interval = checkpoint.every
        self.checkpoints += 1
        self.last_checkpoint = seq

    def due(self) -> tuple[int, int]:
        """(the entry at which the next checkpoint is due, the interval that puts it there).

        The later of what the newest signed interval and the configured one say: an
        operator who changed the interval is not told of a checkpoint that was not due
        when the entries were linked.
        """
        after = self.last_checkpoint
        options = [((after // n + 1) * n, n)
                   for n in (self.signed_interval, self.configured) if n]
        return max(options)

    def finish(self, tip: int) -> None:
        """Raise when a checkpoint due at or before the tip is not there."""
        due, interval = self.due()
        if tip < due:
            return
        last = tip // interval * interval
        count = (last - due) // interval + 1
        what = (f"audit checkpoint {due} is missing" if count == 1 else
                f"audit checkpoints {_span(due, last)} are missing ({count})")
        unproven = (self.last_checkpoint + 1, tip)
        raise AuditCheckpointMissingError(
            f"{what} (one is signed every {interval} entries): entries {_span(*unproven)} "
            "are proven by no signed checkpoint", missing=(due, last, count),
            unproven=unproven, hint=_MISSING_HINT)


def _against(row: _Row, checkpoint: _Row | None, exported: ExportedCheckpoint) -> None:
    """The entry and the checkpoint row must be what the exported checkpoint signed."""
    seq, line = row.seq, exported.line
    if row.hash != exported.hash:
        raise _broken(seq, "the chain up to here was rewritten: it disagrees with exported "
                           f"checkpoint {seq} (line {line})")
    if checkpoint is None:
        raise _broken(seq, f"its signed checkpoint is gone (deleted): the export proves it "
                           f"was signed (line {line})")
    if (checkpoint.hash, checkpoint.at, checkpoint.every, checkpoint.prev) != \
            (exported.hash, exported.at, exported.every, exported.prev):
        raise _broken(seq, f"its signed checkpoint differs from the exported one (line {line})")


def _pages(session: Session, after: int, size: int) -> Sequence[_Row]:
    return session.execute(_PAGE.where(_ENTRIES.c.seq > after).limit(size)).all()


def _checkpoints_of(session: Session, page: Sequence[_Row]) -> dict[int, _Row]:
    rows = session.execute(select(_CHECKPOINTS).where(
        _CHECKPOINTS.c.seq.between(page[0].seq, page[-1].seq))).all()
    return {row.seq: row for row in rows}


def verify_audit_chain(
    session: Session, public_key_for: Callable[[str], PublicKey], *,
    every: int = DEFAULT_EVERY, against: Iterable[ExportedCheckpoint] = (),
    page_size: int = 5000,
) -> AuditVerification:
    """Recompute the whole chain, check checkpoints and, given an export, hold it to it.

    ``public_key_for`` gives the key that signed with a certificate serial (the key
    store's, :class:`zhengyin.trust.auditkeys.AuditKeys`); ``every`` is the configured interval
    (the newest checkpoint's signed one counts too, whichever puts the next later). Raises
    :class:`AuditChainBrokenError` naming the first broken entry, its subclass
    :class:`AuditCheckpointMissingError` for a missing checkpoint, and
    :class:`AuditExportError` for an export line that does not verify.
    """
    walk = _Walk(public_key_for, max(1, every), _Exports(against))
    last = 0
    while True:
        page = _pages(session, last, page_size)
        if not page:
            head = session.execute(select(_HEAD.c.seq, _HEAD.c.hash)
                                   .where(_HEAD.c.id == _HEAD_ID)).one_or_none()
            if head is None or head.seq <= last:
                break
            # Linked since the last page was read, or deleted: read again to tell.
            page = _pages(session, last, page_size)
            if not page:
                raise _broken(last + 1, f"missing (deleted); the log's head records {head.seq} "
                                        "entries")
        checkpoints = _checkpoints_of(session, page)
        for row in page:
            walk.entry(row, checkpoints.get(row.seq))
        last = page[-1].seq
    if head is not None and (head.seq != last or head.hash != walk.prev):
        raise _broken(last, f"the log's head row records entry {head.seq} "
                            f"({head.hash[:16]}…) instead: the head row was edited")
    beyond = session.scalar(select(func.min(_CHECKPOINTS.c.seq))
                            .where(_CHECKPOINTS.c.seq > last))
    if beyond is not None:
        raise _broken(beyond, "missing (deleted); a signed checkpoint covers it")
    if walk.exports.next is not None:
        proven = walk.exports.newest()
        raise _broken(last + 1, f"missing (deleted): entries {_span(last + 1, proven.seq)} "
                                f"are gone; exported checkpoint {proven.seq} (line "
                                f"{proven.line}) proves the log reached entry {proven.seq}")
    walk.finish(last)
    pending, oldest = session.execute(
        select(func.count(), func.min(_OUTBOX.c.at)).select_from(_OUTBOX)).one()
    return AuditVerification(
        entries=last, checkpoints=walk.checkpoints, last_seq=last, last_hash=walk.prev,
        pending=int(pending), oldest_pending_at=oldest, last_checkpoint=walk.last_checkpoint,
        interval=walk.due()[1], exported=walk.exports.count,
        last_exported=walk.exports.last)
