"""Rows for several tables inserted together: all of them land, in order, or none does;
ids reserved for them beforehand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Engine, Table, select

from zhengyin.core.clock import utcnow
from zhengyin.core.db import (
    insert_together,
    make_engine,
    make_session_factory,
    reserve_ids,
    session_scope,
)
from zhengyin.core.models import AuditOutboxRecord
from zhengyin.trust.models import CertificateRecord

_OUTBOX = cast(Table, AuditOutboxRecord.__table__)
_CERTIFICATES = cast(Table, CertificateRecord.__table__)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = make_engine(database_url, pool_size=1)
    yield created
    created.dispose()


def _row(name: str, **overrides: Any) -> dict[str, Any]:
    return {"actor": "test", "action": "test.write", "object_type": "test",
            "object_id": name, "at": utcnow(), "details": {"名": name}, **overrides}


def _names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(
            select(_OUTBOX.c.object_id).order_by(_OUTBOX.c.id)).scalars())


def test_rows_inserted_together_all_land_in_the_order_given(engine: Engine) -> None:
    before = _names(engine)
    with session_scope(make_session_factory(engine)) as session:
        insert_together(session, [(_OUTBOX, [_row("a")]), (_OUTBOX, []),
                                  (_OUTBOX, [_row("b"), _row("c")])])
    assert _names(engine) == [*before, "a", "b", "c"]


def test_a_bad_row_among_them_leaves_none_of_the_unit_of_work(engine: Engine) -> None:
    before = _names(engine)
    with pytest.raises(Exception, match=r"(?i)null|constraint"), \
            session_scope(make_session_factory(engine)) as session:
        insert_together(session, [(_OUTBOX, [_row("d")]),
                                  (_OUTBOX, [_row("e", actor=None)])])  # NOT NULL
    assert _names(engine) == before


def test_reserved_ids_are_taken_by_rows_and_never_handed_out_again(engine: Engine) -> None:
    with session_scope(make_session_factory(engine)) as session:
        (reserved,) = reserve_ids(session, [_OUTBOX])
        insert_together(session, [(_OUTBOX, [_row("reserved", id=reserved)])])
        (following,) = reserve_ids(session, [_OUTBOX])
        insert_together(session, [(_OUTBOX, [_row("default")])])  # the table's own id
    with engine.connect() as connection:
        ids = {name: row_id for name, row_id in connection.execute(
            select(_OUTBOX.c.object_id, _OUTBOX.c.id).where(
                _OUTBOX.c.object_id.in_(["reserved", "default"])))}
    assert following > reserved
    assert ids["reserved"] == reserved
    assert ids["default"] > reserved


def test_one_id_is_reserved_per_table_named(engine: Engine) -> None:
    with session_scope(make_session_factory(engine)) as session:
        ids = reserve_ids(session, [_OUTBOX, _CERTIFICATES])
    assert len(ids) == 2
    assert all(isinstance(value, int) and value > 0 for value in ids)
