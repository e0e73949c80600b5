"""Prebuilt statements on async PostgreSQL connections: the rows a session gives, a pool
that replaces dropped connections and lends at most its size."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, bindparam, select, text

from zhengyin.core import db
from zhengyin.core.asyncdb import AsyncStatements, prepared
from zhengyin.core.db import JSONDocument, UTCDateTime, make_engine, str_enum, together_statement


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


_METADATA = MetaData()
_THINGS = Table("asyncdb_things", _METADATA, Column("id", Integer, primary_key=True),
                Column("colour", str_enum(Colour)), Column("at", UTCDateTime),
                Column("doc", JSONDocument))
_NOTES = Table("asyncdb_notes", _METADATA, Column("id", Integer, primary_key=True),
               Column("thing_id", Integer), Column("doc", JSONDocument))
_BY_COLOUR = select(_THINGS).where(_THINGS.c.colour == bindparam("colour", type_=str_enum(Colour)))
_SOME = select(_THINGS.c.id).where(_THINGS.c.id < 100).order_by(_THINGS.c.id)  # a literal bind


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("async statements run on PostgreSQL only")
    created = make_engine(database_url, pool_size=1)
    _METADATA.drop_all(created)
    _METADATA.create_all(created)
    yield created
    _METADATA.drop_all(created)
    created.dispose()


def _statements(engine: Engine, size: int = 2) -> AsyncStatements:
    return AsyncStatements.for_engine(engine, size=size)


AT = datetime(2026, 12, 5, 8, 30, tzinfo=timezone(timedelta(hours=8)))


def test_rows_read_on_the_loop_are_the_rows_a_session_reads(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(_THINGS.insert(), [
            {"id": 1, "colour": Colour.RED, "at": AT, "doc": {"名": "甲", "n": [1, 2]}},
            {"id": 2, "colour": Colour.BLUE, "at": AT, "doc": None}])
        in_session = [tuple(row) for row in connection.execute(_BY_COLOUR, {"colour": Colour.RED})]

    async def on_loop() -> list[tuple[object, ...]]:
        statements = _statements(engine)
        async with statements.connection() as connection:
            rows = await connection.fetch(prepared(_BY_COLOUR, engine.dialect),
                                          {"colour": Colour.RED})
        await statements.close()
        return rows

    rows = asyncio.run(on_loop())
    assert rows == in_session
    assert isinstance(rows[0][1], Colour) and rows[0][2] == AT.astimezone(UTC)


def test_a_statement_keeps_the_values_it_carries(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(_THINGS.insert(), [{"id": n, "colour": Colour.RED, "at": AT}
                                              for n in (5, 500)])

    async def on_loop() -> list[tuple[object, ...]]:
        statements = _statements(engine)
        async with statements.connection() as connection:
            rows = await connection.fetch(prepared(_SOME, engine.dialect), {})
        await statements.close()
        return rows

    assert asyncio.run(on_loop()) == [(5,)]


def test_rows_inserted_together_on_the_loop_are_stored_as_a_session_stores_them(
        engine: Engine) -> None:
    statement, parameters = together_statement(
        [(_THINGS, [{"id": 7, "colour": Colour.BLUE, "at": AT, "doc": {"k": "值"}}]),
         (_NOTES, [{"id": 1, "thing_id": 7, "doc": {"a": 1}},
                   {"id": 2, "thing_id": 7, "doc": None}])], engine.dialect)

    async def on_loop() -> None:
        statements = _statements(engine)
        async with statements.connection() as connection:
            await connection.execute(prepared(statement, engine.dialect), parameters)
        await statements.close()

    asyncio.run(on_loop())
    with engine.connect() as connection:
        assert [tuple(row) for row in connection.execute(select(_THINGS))] \
            == [(7, Colour.BLUE, AT.astimezone(UTC), {"k": "值"})]
        assert [tuple(row) for row in connection.execute(select(_NOTES).order_by(_NOTES.c.id))] \
            == [(1, 7, {"a": 1}), (2, 7, None)]


def _backend_pids(engine: Engine, statements: AsyncStatements, *, between: object = None,
                  close: bool = True) -> tuple[int, int]:
    """The backends of two connections lent one after the other on one event loop."""
    query = prepared(text("SELECT pg_backend_pid()"), engine.dialect)

    async def run() -> tuple[int, int]:
        pids = []
        for step in range(2):
            async with statements.connection() as connection:
                [(pid,)] = await connection.fetch(query, {})
                pids.append(int(pid))
            if step == 0 and callable(between):
                between(pids[0])
        if close:
            await statements.close()
        return pids[0], pids[1]

    return asyncio.run(run())


def test_a_connection_handed_back_moments_ago_is_lent_again(engine: Engine) -> None:
    first, second = _backend_pids(engine, _statements(engine))
    assert first == second


def test_an_idle_connection_the_server_dropped_is_replaced_without_an_error(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def drop(pid: int) -> None:
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)

    dropped, replacement = _backend_pids(engine, _statements(engine), between=drop)
    assert replacement != dropped


def test_idle_connections_the_server_dropped_are_replaced_without_a_retry_pause(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # As after a server restart: every idle connection is dead. psycopg_pool sleeps a
    # second (then two, four...) from the second failed ``check`` callback in a row; the
    # idle ping runs outside the pool, so the borrower gets a fresh connection at once.
    statements = _statements(engine, size=2)
    query = prepared(text("SELECT pg_backend_pid()"), engine.dialect)

    def drop(pids: list[int]) -> None:
        with engine.connect() as other:
            for pid in pids:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    async def run() -> float:
        async with statements.connection() as one, statements.connection() as two:
            pids = [int(pid) for connection in (one, two)
                    for [(pid,)] in [await connection.fetch(query, {})]]
        await asyncio.to_thread(drop, pids)
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        started = time.monotonic()
        async with statements.connection() as connection:
            await connection.fetch(query, {})
        waited = time.monotonic() - started
        await statements.close()
        return waited

    assert asyncio.run(run()) < 0.5


def test_no_more_than_size_connections_are_lent_at_once(engine: Engine) -> None:
    statements = _statements(engine, size=2)
    busy = prepared(text("SELECT pg_sleep(0.2), pg_backend_pid()"), engine.dialect)

    async def run() -> set[int]:
        async def one() -> int:
            async with statements.connection() as connection:
                [(_, pid)] = await connection.fetch(busy, {})
                return int(pid)

        pids = await asyncio.gather(*(one() for _ in range(6)))
        await statements.close()
        return set(pids)

    assert len(asyncio.run(run())) == 2


def test_a_new_event_loop_gets_connections_of_its_own(engine: Engine) -> None:
    # An async connection belongs to the loop that opened it; the first loop's (left
    # idle, not closed) must not be lent on the second.
    statements = _statements(engine)
    first, _ = _backend_pids(engine, statements, close=False)
    second, again = _backend_pids(engine, statements)
    assert second != first and again == second
