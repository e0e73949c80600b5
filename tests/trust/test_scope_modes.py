"""Read-only and one-write units of work: no transaction of their own on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import psycopg
import pytest
from sqlalchemy import Engine, Table, func, select

from zhengyin.core.clock import utcnow
from zhengyin.core.db import (
    ReadOnlyScopeError,
    insert_together,
    make_engine,
    make_session_factory,
    session_scope,
)
from zhengyin.core.models import AuditOutboxRecord


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = make_engine(database_url, pool_size=1)
    yield created
    created.dispose()


def _record() -> AuditOutboxRecord:
    return AuditOutboxRecord(actor="test", action="test.write", object_type="test",
                             object_id="1", at=utcnow(), details={})


def _outbox_size(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(
            AuditOutboxRecord.__table__)).scalar_one())


@pytest.mark.parametrize(("mode", "refusal"), [
    ({"readonly": True}, "may not write"),
    ({"one_write": True}, "one Core statement"),
])
def test_read_only_and_one_write_units_refuse_an_orm_write(
        engine: Engine, mode: dict[str, bool], refusal: str) -> None:
    before = _outbox_size(engine)
    with pytest.raises(ReadOnlyScopeError, match=refusal), \
            session_scope(make_session_factory(engine), **mode) as session:
        session.add(_record())
        session.flush()
    assert _outbox_size(engine) == before


def test_a_read_only_unit_on_postgresql_reads_outside_a_transaction(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads in a deferred transaction")
    with session_scope(make_session_factory(engine), readonly=True) as session:
        session.execute(select(func.count()).select_from(AuditOutboxRecord.__table__))
        driver = session.connection().connection.driver_connection
        assert driver is not None
        assert driver.info.transaction_status is psycopg.pq.TransactionStatus.IDLE


def test_a_writing_unit_after_a_read_only_one_still_rolls_back_on_error(
        engine: Engine) -> None:
    factory = make_session_factory(engine)  # one pooled connection: the same one again
    with session_scope(factory, readonly=True) as session:
        session.execute(select(func.count()).select_from(AuditOutboxRecord.__table__))
    before = _outbox_size(engine)
    with pytest.raises(LookupError), session_scope(factory) as session:
        session.add(_record())
        session.flush()
        raise LookupError("the route failed after its write")
    assert _outbox_size(engine) == before


def test_a_one_write_unit_on_postgresql_commits_its_statement_at_once(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs the unit in a transaction")
    before = _outbox_size(engine)
    with session_scope(make_session_factory(engine), one_write=True) as session:
        insert_together(session, [(cast(Table, AuditOutboxRecord.__table__), [
            {"actor": "test", "action": "test.write", "object_type": "test", "object_id": "1",
             "at": utcnow(), "details": {}}])])
        driver = session.connection().connection.driver_connection
        assert driver is not None
        assert driver.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
        # No BEGIN was sent, so there is no COMMIT to wait for: another connection sees it.
        assert _outbox_size(engine) == before + 1
