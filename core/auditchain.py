"""The audit sequencer: links committed outbox records into the hash chain.

Business transactions only insert into ``audit_outbox``; they never wait on the chain's
head. The sequencer takes the head-row lock once per batch, reads the oldest records
(``id`` order), appends them to the chain, and deletes them in the same transaction, so a
record is either in the outbox or in the chain, never both and never neither. Two
sequencers (two processes) are serialised by the same lock; the second one sees what the
first has already moved.

Where it runs: inline after each commit (CLI, tests, anything without a background
thread), or in one :class:`BackgroundChainer` thread per server process, which a commit
wakes and which also sweeps on an interval (records left by another process or a crash).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session, sessionmaker

from .audit import AuditRecord, CheckpointSigner, link_records, lock_head
from .db import session_scope
from .models import AuditOutboxRecord

__all__ = ["AuditSequencer", "BackgroundChainer"]

_OUTBOX = cast(Table, AuditOutboxRecord.__table__)
_log = logging.getLogger(__name__)


class AuditSequencer:
    """Moves outbox records into the chain, a batch per transaction."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        signer: Callable[[Session], CheckpointSigner | None],
        *,
        checkpoint_every: int,
        batch_size: int = 1000,
    ) -> None:
        self._factory = factory
        self._signer = signer
        self._every = max(1, checkpoint_every)
        self._batch = max(1, batch_size)

    def drain(self) -> int:
        """Chain everything committed to the outbox so far; returns how many records.

        Without an audit identity (before ``pki init``) records are linked only up to the
        entry before the next checkpoint is due; the rest wait in the outbox.
        """
        total = 0
        while True:
            with session_scope(self._factory) as session:
                moved, full = self._link_batch(session)
            total += moved
            if not full:
                return total

    def _link_batch(self, session: Session) -> tuple[int, bool]:
        """Link one batch: (records moved, whether a whole batch was moved)."""
        # The head lock first: once held, every record committed before it is visible and
        # no other sequencer can be moving the same ones.
        head = lock_head(session)
        signer = self._signer(session)
        limit = self._batch
        if signer is None:
            limit = min(limit, (head[0] // self._every + 1) * self._every - head[0] - 1)
            if limit == 0:
                _log.warning("audit records wait: entry %d needs a signed checkpoint and "
                             "there is no audit identity (zhengyin pki init)", head[0] + 1)
                return 0, False
        rows = session.execute(select(_OUTBOX).order_by(_OUTBOX.c.id).limit(limit)).all()
        if not rows:
            return 0, False
        records = [AuditRecord(actor=row.actor, action=row.action, object_type=row.object_type,
                               object_id=row.object_id, at=row.at, details=row.details)
                   for row in rows]
        link_records(session, records, signer=signer, every=self._every, head=head)
        session.execute(delete(_OUTBOX).where(_OUTBOX.c.id.in_([row.id for row in rows])))
        return len(rows), len(rows) == self._batch


class BackgroundChainer:
    """One daemon thread per process that drains the outbox off the request path.

    :meth:`notify` after a commit wakes it; it also drains every ``interval`` seconds,
    which picks up records committed by other processes or left by a crash. After each
    drain it lingers ``linger`` seconds, so that under load one drain takes the records of
    many requests. A failed drain is logged and retried on the next wake: the records
    stay safely in the outbox.
    """

    def __init__(self, sequencer: AuditSequencer, *, interval: float = 1.0,
                 linger: float = 0.2) -> None:
        self._sequencer = sequencer
        self._interval = interval
        self._linger = linger
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op when it runs)."""
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="audit-chainer", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Records were committed: drain soon."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after a last drain."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stopping.is_set()  # then this drain is the last one
            try:
                self._sequencer.drain()
            except Exception:
                _log.exception("audit sequencer: drain failed; records stay in the outbox")
            if stopping:
                return
            self._stopping.wait(self._linger)
