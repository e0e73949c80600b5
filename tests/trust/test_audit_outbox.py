"""The audit outbox and its sequencer: records commit with their change, the chain follows.

A writer's record lands in ``audit_outbox`` inside its own transaction (rolled back with
it), writers never wait on the chain's head, and the sequencer moves each committed record
into the chain exactly once, even when several sequencers race (two server processes).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from zhengyin.api.runtime import Runtime
from zhengyin.core.audit import AuditLog, AuditRecord, lock_head, wrote_to_outbox
from zhengyin.core.auditchain import AuditSequencer, BackgroundChainer
from zhengyin.core.clock import utcnow
from zhengyin.core.db import insert_together, session_scope
from zhengyin.core.models import AuditEntry, AuditOutboxRecord
from zhengyin.trust.auditverify import verify_audit_chain


def _commit(runtime: Runtime, count: int, action: str = "thing.done") -> None:
    """Commit ``count`` records without chaining them (a bare session, no runtime hook)."""
    with session_scope(runtime.session_factory) as session:
        log = AuditLog(session)
        for n in range(count):
            log.append(actor="test", action=action, object_type="thing", object_id=str(n),
                       at=utcnow(), details={"n": n})


def _count(runtime: Runtime, model: type[AuditEntry] | type[AuditOutboxRecord],
           action: str = "thing.done") -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(
            select(func.count()).select_from(model).where(model.action == action)) or 0)


def _verify(runtime: Runtime):  # type: ignore[no-untyped-def]
    with runtime.unit_of_work(readonly=True) as services:
        return verify_audit_chain(services.session, services.pki.public_key_of_serial)


def _sequencer(runtime: Runtime, batch_size: int = 1000) -> AuditSequencer:
    return AuditSequencer(runtime.session_factory, runtime.audit_signer,
                          checkpoint_every=1000, batch_size=batch_size)


def test_an_outbox_batch_inserted_with_other_rows_lands_in_order_and_is_chained(
        runtime: Runtime) -> None:
    with session_scope(runtime.session_factory) as session:
        audit = AuditLog(session)
        insert_together(session, [audit.outbox_batch([
            AuditRecord(actor="test", action="thing.done", object_type="thing",
                        object_id=str(n), at=utcnow(), details={"n": n}) for n in range(3)])])
        assert not session.new  # nothing left for the ORM to flush
        written = session.scalars(select(AuditOutboxRecord.object_id)
                                  .order_by(AuditOutboxRecord.id)).all()
        assert wrote_to_outbox(session)  # so the unit of work has them chained
    assert written == ["0", "1", "2"]
    assert _sequencer(runtime).drain() == 3


def test_a_committed_record_waits_in_the_outbox_until_the_sequencer_chains_it(
        runtime: Runtime) -> None:
    _commit(runtime, 2)

    assert (_count(runtime, AuditOutboxRecord), _count(runtime, AuditEntry)) == (2, 0)
    waiting = _verify(runtime)
    assert waiting.pending == 2 and waiting.oldest_pending_at is not None

    assert _sequencer(runtime).drain() == 2

    assert (_count(runtime, AuditOutboxRecord), _count(runtime, AuditEntry)) == (0, 2)
    assert _verify(runtime).pending == 0


def test_a_rolled_back_transaction_leaves_no_audit_record(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), runtime.unit_of_work() as services:
        services.audit.append(actor="test", action="thing.done", object_type="thing",
                              object_id="1", at=utcnow())
        raise RuntimeError("the change failed")

    assert (_count(runtime, AuditOutboxRecord), _count(runtime, AuditEntry)) == (0, 0)


def test_a_unit_of_work_without_a_background_chainer_chains_on_commit(runtime: Runtime) -> None:
    with runtime.unit_of_work() as services:
        services.audit.append(actor="test", action="thing.done", object_type="thing",
                              object_id="1", at=utcnow(), details={"holder": "11010519491231002X"})

    with runtime.unit_of_work(readonly=True) as services:
        entry = services.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "thing.done")).one()
    assert entry.details == {"holder": "110105********002X"}
    assert _count(runtime, AuditOutboxRecord) == 0


def test_the_sequencer_keeps_commit_order_across_batches(runtime: Runtime) -> None:
    _commit(runtime, 7)

    assert _sequencer(runtime, batch_size=3).drain() == 7

    with runtime.unit_of_work(readonly=True) as services:
        chained = list(services.session.scalars(
            select(AuditEntry.object_id).where(AuditEntry.action == "thing.done")
            .order_by(AuditEntry.seq)))
    assert chained == [str(n) for n in range(7)]
    assert _verify(runtime).entries >= 7


def test_racing_sequencers_chain_every_record_exactly_once(runtime: Runtime) -> None:
    writers = [threading.Thread(target=_commit, args=(runtime, 25, f"race.{w}"))
               for w in range(4)]
    drainers = [threading.Thread(target=_sequencer(runtime, batch_size=7).drain)
                for _ in range(3)]
    for thread in writers + drainers:
        thread.start()
    for thread in writers + drainers:
        thread.join(60)
    _sequencer(runtime).drain()

    with runtime.unit_of_work(readonly=True) as services:
        chained = Counter(services.session.execute(
            select(AuditEntry.action, AuditEntry.object_id)
            .where(AuditEntry.action.like("race.%"))).all())
        left = services.session.scalar(select(func.count()).select_from(AuditOutboxRecord))
    assert len(chained) == 100 and set(chained.values()) == {1}
    assert left == 0
    assert _verify(runtime).pending == 0


def test_writers_commit_while_the_chain_head_is_locked(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer on its database lock")
    holder = runtime.session_factory()
    try:
        lock_head(holder)  # a sequencer mid-batch
        writer = threading.Thread(target=_commit, args=(runtime, 1))
        writer.start()
        writer.join(10)
        assert not writer.is_alive(), "a business transaction waited for the chain's head"
    finally:
        holder.rollback()
        holder.close()
    assert _count(runtime, AuditOutboxRecord) == 1


def test_the_background_chainer_links_records_soon_after_commit(runtime: Runtime) -> None:
    chainer = BackgroundChainer(_sequencer(runtime), interval=30.0)
    chainer.start()
    try:
        _commit(runtime, 3)
        chainer.notify()
        deadline = time.monotonic() + 10
        while _count(runtime, AuditEntry) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        chainer.stop()
    assert _count(runtime, AuditEntry) == 3
    assert not chainer.running


def test_stopping_the_background_chainer_drains_what_is_left(runtime: Runtime) -> None:
    chainer = BackgroundChainer(_sequencer(runtime), interval=30.0)
    chainer.start()
    _commit(runtime, 2)  # committed, but nobody notified the chainer

    chainer.stop()

    assert _count(runtime, AuditEntry) == 2


def test_a_server_runtime_chains_in_the_background_after_requests(runtime: Runtime) -> None:
    runtime.start_audit_chainer()
    assert runtime.chaining_in_background  # so the commit below only wakes the thread
    with runtime.unit_of_work() as services:
        services.audit.append(actor="test", action="thing.done", object_type="thing",
                              object_id="1", at=utcnow())
    deadline = time.monotonic() + 10
    while _count(runtime, AuditEntry) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert _count(runtime, AuditEntry) == 1
    assert _count(runtime, AuditOutboxRecord) == 0


def test_a_failed_inline_chaining_leaves_the_committed_change_and_its_record(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_drain() -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(runtime.audit_sequencer, "drain", broken_drain)
    with runtime.unit_of_work() as services:  # does not raise: the change has committed
        services.audit.append(actor="test", action="thing.done", object_type="thing",
                              object_id="1", at=utcnow())

    assert (_count(runtime, AuditOutboxRecord), _count(runtime, AuditEntry)) == (1, 0)


def test_the_server_starts_background_chaining_when_configured(runtime: Runtime) -> None:
    from fastapi.testclient import TestClient

    from zhengyin.api.app import create_app

    runtime.settings = runtime.settings.model_copy(update={"audit_chaining": "background"})
    assert not runtime.chaining_in_background
    with TestClient(create_app(runtime=runtime)):
        assert runtime.chaining_in_background
        with runtime.unit_of_work() as services:
            services.audit.append(actor="test", action="thing.done", object_type="thing",
                                  object_id="1", at=utcnow())
        deadline = time.monotonic() + 10
        while _count(runtime, AuditEntry) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        chained = _count(runtime, AuditEntry)

    assert chained == 1
    assert not runtime.chaining_in_background  # the app's shutdown stopped it
