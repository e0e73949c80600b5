"""The audit log: a hash chain whose tampering `audit verify` pinpoints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from zhengyin.api.runtime import Runtime
from zhengyin.core.audit import AuditLog
from zhengyin.core.auditchain import AuditSequencer
from zhengyin.core.clock import utcnow
from zhengyin.core.db import session_scope
from zhengyin.core.errors import AuditChainBrokenError
from zhengyin.core.models import AuditCheckpoint, AuditEntry
from zhengyin.trust.auditverify import verify_audit_chain

from .conftest import rewrite_audit_chain_from


def _append(runtime: Runtime, count: int, **details: object) -> None:
    at = utcnow()
    with runtime.unit_of_work() as services:
        for index in range(count):
            services.audit.append(actor="test", action="thing.done", object_type="thing",
                                  object_id=str(index), at=at + timedelta(seconds=index),
                                  details=dict(details))


def _verify(runtime: Runtime):  # type: ignore[no-untyped-def]
    with runtime.unit_of_work(readonly=True) as services:
        return verify_audit_chain(services.session, services.pki.public_key_of_serial)


def _execute(runtime: Runtime, sql: str, **params: object) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(text(sql), params)


def _last_seq(runtime: Runtime) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())
                                           .limit(1)) or 0)


def test_untouched_log_verifies(runtime: Runtime) -> None:
    _append(runtime, 5)
    result = _verify(runtime)
    assert result.entries == _last_seq(runtime)
    assert result.entries >= 5


def test_editing_an_entry_is_named(runtime: Runtime) -> None:
    _append(runtime, 5)
    target = _last_seq(runtime) - 2
    _execute(runtime, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = :s", s=target)
    with pytest.raises(AuditChainBrokenError, match=f"audit entry {target}: content was altered"):
        _verify(runtime)


def test_deleting_an_entry_is_named(runtime: Runtime) -> None:
    _append(runtime, 5)
    target = _last_seq(runtime) - 2
    _execute(runtime, "DELETE FROM audit_entries WHERE seq = :s", s=target)
    with pytest.raises(AuditChainBrokenError, match=f"audit entry {target}: missing"):
        _verify(runtime)


def test_deleting_the_newest_entry_is_named(runtime: Runtime) -> None:
    _append(runtime, 3)
    target = _last_seq(runtime)
    _execute(runtime, "DELETE FROM audit_entries WHERE seq = :s", s=target)
    with pytest.raises(AuditChainBrokenError, match=f"audit entry {target}: missing"):
        _verify(runtime)


def test_reordering_two_entries_is_named(runtime: Runtime) -> None:
    _append(runtime, 5)
    a = _last_seq(runtime) - 3
    b = a + 1
    # Swap the rows' sequence numbers through a free value.
    _execute(runtime, "UPDATE audit_entries SET seq = -1 WHERE seq = :a", a=a)
    _execute(runtime, "UPDATE audit_entries SET seq = :a WHERE seq = :b", a=a, b=b)
    _execute(runtime, "UPDATE audit_entries SET seq = :b WHERE seq = -1", b=b)
    with pytest.raises(AuditChainBrokenError, match=f"audit entry {a}: does not link"):
        _verify(runtime)


def test_a_rewritten_chain_disagrees_with_a_signed_checkpoint(runtime: Runtime) -> None:
    _append(runtime, 3)
    with runtime.unit_of_work() as services:
        checkpoint = services.audit.checkpoint(utcnow())
    assert checkpoint is not None
    # An attacker with database access rewrites one entry and recomputes every hash after it.
    rewrite_audit_chain_from(runtime, 2)
    with pytest.raises(AuditChainBrokenError, match="disagrees with the signed checkpoint"):
        _verify(runtime)


def test_a_forged_checkpoint_signature_is_named(runtime: Runtime) -> None:
    _append(runtime, 2)
    with runtime.unit_of_work() as services:
        checkpoint = services.audit.checkpoint(utcnow())
        assert checkpoint is not None
        seq = checkpoint.seq
        services.session.execute(
            update(AuditCheckpoint).where(AuditCheckpoint.seq == seq)
            .values(signature=bytes(70))
        )
    with pytest.raises(AuditChainBrokenError, match=f"audit entry {seq}: the checkpoint signature"):
        _verify(runtime)


def test_checkpoints_are_signed_every_n_entries(runtime: Runtime) -> None:
    with session_scope(runtime.session_factory) as session:
        log = AuditLog(session)
        for index in range(9):
            log.append(actor="t", action="a", object_type="o", object_id=str(index), at=utcnow())
    AuditSequencer(runtime.session_factory, runtime.audit_signer, checkpoint_every=4).drain()
    with runtime.unit_of_work(readonly=True) as services:
        seqs = list(services.session.scalars(select(AuditCheckpoint.seq)))
    assert seqs and all(seq % 4 == 0 for seq in seqs)
    assert _verify(runtime).checkpoints == len(seqs)


def test_details_never_keep_secrets_or_full_id_numbers(runtime: Runtime) -> None:
    _append(runtime, 1, holder="11010519491231002X", client_secret="s3cr3t",
            note="holder 440524188001010014 asked")
    with runtime.unit_of_work(readonly=True) as services:
        entry = services.session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert entry is not None
    assert entry.details == {
        "holder": "110105********002X",
        "client_secret": "[redacted]",
        "note": "holder 440524********0014 asked",
    }


def test_append_chained_writes_the_chain_one_by_one_appends_would(runtime: Runtime) -> None:
    from zhengyin.core.audit import AuditRecord

    at = utcnow()
    _append(runtime, 2)
    first = _last_seq(runtime) + 1
    with runtime.unit_of_work() as services:
        log = AuditLog(services.session, checkpoint_signer=runtime.audit_signer(services.session),
                       checkpoint_every=5)
        seqs = log.append_chained([
            AuditRecord(actor="import", action="licence.issued", object_type="licence",
                        object_id=str(index), at=at + timedelta(microseconds=index),
                        details={"holder": "11010519491231002X", "row": index})
            for index in range(12)
        ])
        assert seqs == range(first, first + 12)
        assert len(log.append_chained([])) == 0
    _append(runtime, 1)
    with runtime.unit_of_work(readonly=True) as services:
        checkpoints = set(services.session.scalars(select(AuditCheckpoint.seq)))
        stored = services.session.scalars(
            select(AuditEntry).where(AuditEntry.seq == first)).one()
    assert {seq for seq in range(first, first + 12) if seq % 5 == 0} <= checkpoints
    assert stored.details["holder"] == "110105********002X"
    result = _verify(runtime)
    assert result.entries == first + 12 and result.checkpoints == len(checkpoints)
