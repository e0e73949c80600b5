"""Database plumbing shared by every layer: declarative base, column types, engines.

SQLite is the embedded default and PostgreSQL the production engine; both run the same
models. Times are stored as UTC and always come back timezone-aware.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    TextClause,
    bindparam,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "BigId",
    "JSONDocument",
    "ReadOnlyScopeError",
    "UTCDateTime",
    "insert_rows",
    "insert_together",
    "lock_for_transaction",
    "make_engine",
    "make_session_factory",
    "may_write",
    "reserve_ids",
    "session_scope",
    "writing_unit",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The one declarative base; every package's ``models.py`` derives from it."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that refuses naive datetimes on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONDocument(TypeDecorator[Any]):
    """A JSON document: JSONB on PostgreSQL (compact, indexable), JSON text elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(JSON())


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def normalise_url(url: str) -> str:
    """Select psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 10, for_worker: bool = False) -> Engine:
    """Create an engine with the settings each backend needs to be safe under concurrency.

    SQLite: WAL, foreign keys on, a busy timeout, and ``BEGIN IMMEDIATE`` for writing
    transactions, so two writers queue instead of failing on a lock upgrade. Both: a
    statement's parameters (names, ID numbers) never appear in an error's text, and so
    never in a log (``hide_parameters``).
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            hide_parameters=True,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=NullPool if for_worker else None,
        )
        _configure_sqlite(engine)
        return engine
    # A worker process opens its connections as it needs them (NullPool takes no sizes).
    pooling: dict[str, Any] = {"poolclass": NullPool} if for_worker else {
        "pool_size": pool_size, "max_overflow": pool_size}
    engine = create_engine(url, json_serializer=_json_dumps, hide_parameters=True, **pooling)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only if it sat idle for a while.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per unit of work,
    about a tenth of a short request's time. A connection handed back moments ago just
    completed a transaction, so it is pinged only after ``PING_AFTER_IDLE_SECONDS`` idle;
    a dead one then raises ``DisconnectionError`` and the pool retries with a fresh
    connection (SQLAlchemy's documented pessimistic-disconnect pattern).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["zy_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["zy_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("zy_idle_since")
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the driver's own error for a dead connection
            raise DisconnectionError("pooled connection is gone") from exc
        if not alive:
            raise DisconnectionError("pooled connection is gone")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        readonly = connection.get_execution_options().get("readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (responses read them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, readonly: bool = False,
                  one_write: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    The owner of the scope commits; services only add and flush. ``one_write``: the unit
    reads, then writes with a single Core statement; on PostgreSQL it runs in autocommit,
    where that statement is atomic by itself and the BEGIN and COMMIT round trips are
    spared (reads lose nothing under READ COMMITTED). It refuses ORM flushes.
    """
    if readonly:
        session = factory(bind=_read_only_bind(factory.kw["bind"]))
        session.info[_NO_FLUSH] = "a read-only unit of work may not write"
    elif one_write:
        session = factory(bind=_autocommit_bind(factory.kw["bind"]))
        session.info[_NO_FLUSH] = "a one-write unit of work writes one Core statement"
    else:
        session = factory()
    try:
        yield session
        if not readonly:
            session.commit()
        # A read-only scope just closes: its transaction ends without expiring what was read.
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_NO_FLUSH = "zy_no_flush"


class ReadOnlyScopeError(RuntimeError):
    """A read-only or one-write unit of work tried an ORM write (a programming error)."""


@event.listens_for(Session, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    refusal = session.info.get(_NO_FLUSH)
    if refusal and (session.new or session.dirty or session.deleted):
        raise ReadOnlyScopeError(refusal)


def may_write(session: Session) -> bool:
    """Whether the session's unit of work may write with the ORM (not read-only or one-write)."""
    return not session.info.get(_NO_FLUSH)


_Unit = TypeVar("_Unit")


@contextmanager
def writing_unit(unit: _Unit, session: Session,
                 open_unit: Callable[[], AbstractContextManager[_Unit]]) -> Iterator[_Unit]:
    """``unit`` when its ``session`` may write, else a short unit of work of its own.

    For what a read may have to create on first use (a service identity, a re-signed CRL):
    a read-only unit refuses writes. Opening another unit inside a writing one would
    deadlock SQLite; a one-write unit would open one here too, so what it needs is loaded
    before it opens (a check loads the registry signer first).
    """
    if may_write(session):
        yield unit
    else:
        with open_unit() as own:
            yield own


def _autocommit_bind(engine: Engine) -> Engine:
    if engine.dialect.name == "postgresql":
        return _with_options(engine, isolation_level="AUTOCOMMIT")
    return engine


def _with_options(engine: Engine, **options: Any) -> Engine:
    """``engine.execution_options(**options)``, made once per engine and kept on it.

    Making one costs about 0.25 ms, as much as a short query: too much per unit of work.
    """
    kept: dict[tuple[tuple[str, Any], ...], Engine] = \
        engine.__dict__.setdefault("_zy_option_engines", {})
    key = tuple(sorted(options.items()))
    bound = kept.get(key)
    if bound is None:
        bound = kept[key] = engine.execution_options(**options)
    return bound


def _read_only_bind(engine: Engine) -> Engine:
    """The engine as a read-only scope uses it.

    PostgreSQL: in autocommit. Under READ COMMITTED each statement takes its own snapshot
    whether or not a transaction wraps it, so a read loses nothing without one and saves
    the BEGIN and the ROLLBACK, two of a status lookup's three round trips. With no
    transaction to roll back a write would stick, so a read-only session refuses to flush
    one (:func:`_refuse_writes`). SQLite: a deferred ``BEGIN`` (no write lock).
    """
    if engine.dialect.name == "postgresql":
        return _with_options(engine, readonly=True, isolation_level="AUTOCOMMIT")
    return _with_options(engine, readonly=True)


def str_enum(enum_class: type[Any], *, length: int = 32) -> Any:
    """An enum column stored by value as a short string (no native database enum type)."""
    from sqlalchemy import Enum

    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction, as fast as the backend allows.

    PostgreSQL: ``COPY ... FROM STDIN``, about five times cheaper per row than an
    executemany (each of whose rows is a pipelined Bind/Execute that psycopg builds in
    Python) and far cheaper for the server. Values go through each column type's own bind
    processing, so what is stored is exactly what an ``INSERT`` would store. Columns left
    out take their server defaults (identity ids); Python-side defaults do not apply.
    Elsewhere, and for a few rows (COPY costs an extra round trip): an executemany.
    """
    if not rows:
        return
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or len(rows) < 20:
        connection.execute(insert(table), rows)
        return
    columns = [column for column in table.columns if column.key in rows[0]]
    # JSONB parses the text and forgets key order and spacing: no need to sort keys.
    processors = [_json_text if isinstance(column.type, JSONDocument)
                  else column.type.dialect_impl(dialect).bind_processor(dialect)
                  for column in columns]
    keys = [column.key for column in columns]
    names = ", ".join(dialect.identifier_preparer.quote(column.name) for column in columns)
    target = dialect.identifier_preparer.format_table(table)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([value if process is None else process(value)
                            for value, process in zip([row[key] for key in keys], processors,
                                                      strict=True)])


def insert_together(session: Session, batches: Sequence[tuple[Table, list[dict[str, Any]]]]
                    ) -> None:
    """Insert a few rows into several tables as one statement where possible.

    Each table's rows (which share their keys) are inserted in the order given, so
    identity ids ascend with it; between tables there is no order. PostgreSQL: one
    ``INSERT`` with the other tables' inserts as data-modifying CTEs, so the rows travel
    in one round trip and wait once; foreign keys between them hold, as PostgreSQL checks
    them at the end of the whole statement. (psycopg's pipeline mode also sends them
    together, but waits on the socket once per queued command: under load each wait is a
    GIL hand-off, and a worker spent 12 % of its GIL time there.) Elsewhere: one insert
    per table. Ids are the server's; nothing is read back. For a handful of rows: the
    statement's shape, and so its compiled form, follows their count.
    """
    batches = _by_table(batches)
    if not batches:
        return
    session.flush()
    connection = session.connection()
    if connection.dialect.name != "postgresql" or len(batches) == 1:
        for table, rows in batches:
            connection.execute(insert(table).inline(), rows)
        return
    connection.execute(*_together_of(batches, connection.dialect))


def _by_table(batches: Sequence[tuple[Table, list[dict[str, Any]]]]
              ) -> list[tuple[Table, list[dict[str, Any]]]]:
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, rows in batches:  # one insert per table keeps its rows in order
        by_table.setdefault(table, []).extend(rows)
    return [(table, rows) for table, rows in by_table.items() if rows]


def together_statement(batches: Sequence[tuple[Table, list[dict[str, Any]]]],
                       dialect: Dialect) -> tuple[TextClause, dict[str, Any]]:
    """The one statement (and its parameters) that inserts ``batches`` on PostgreSQL."""
    return _together_of(_by_table(batches), dialect)


def _together_of(batches: list[tuple[Table, list[dict[str, Any]]]], dialect: Dialect
                 ) -> tuple[TextClause, dict[str, Any]]:
    shape = tuple((table, tuple(rows[0]), len(rows)) for table, rows in batches)
    params = {f"t{index}r{number}_{key}": value
              for index, (_table, rows) in enumerate(batches)
              for number, row in enumerate(rows) for key, value in row.items()}
    return _together(shape, dialect), params


@lru_cache(maxsize=256)
def _together(shape: tuple[tuple[Table, tuple[str, ...], int], ...], dialect: Dialect
              ) -> TextClause:
    # SQLAlchemy does not cache the compiled form of an INSERT inside a CTE (it compiled
    # anew on every call, 2.6 ms): the text is built once per shape instead, with typed
    # parameters, so each column's own bind processing still applies.
    preparer = dialect.identifier_preparer
    statements, binds = [], []
    for index, (table, keys, count) in enumerate(shape):
        columns = ", ".join(preparer.quote(table.c[key].name) for key in keys)
        rows = []
        for number in range(count):
            names = [f"t{index}r{number}_{key}" for key in keys]
            rows.append("(" + ", ".join(f":{name}" for name in names) + ")")
            binds += [bindparam(name, type_=table.c[key].type)
                      for name, key in zip(names, keys, strict=True)]
        # Only quoted names of the table's own columns and parameter markers: no values.
        statements.append(f"INSERT INTO {preparer.format_table(table)} ({columns}) "  # noqa: S608
                          f"VALUES {', '.join(rows)}")
    *earlier, last = statements
    if not earlier:
        return text(last).bindparams(*binds)
    ctes = ", ".join(f"insert_{index} AS ({sql})" for index, sql in enumerate(earlier))
    return text(f"WITH {ctes} {last}").bindparams(*binds)


def reserve_ids(session: Session, tables: Sequence[Table]) -> list[int]:
    """One new id for a row about to be inserted into each of ``tables``, in one round trip.

    For rows inserted together (:func:`insert_together`) that name each other's ids, or
    whose audit record names them. PostgreSQL: from the tables' sequences, as their
    defaults would be (a transaction that rolls back leaves a gap, as it would anyway).
    SQLite: one past the largest id; a writing unit of work holds the database's write
    lock from its ``BEGIN IMMEDIATE``, so no other writer can take the same one.
    """
    return list(session.execute(_reserve(tuple(tables), session.get_bind().dialect.name)).one())


@lru_cache(maxsize=64)
def _reserve(tables: tuple[Table, ...], dialect_name: str) -> TextClause:
    # Only table and column names of our own metadata: no values.
    keys = [(table.name, next(iter(table.primary_key.columns)).name) for table in tables]
    if dialect_name == "postgresql":
        parts = [f"nextval(pg_get_serial_sequence('{name}', '{key}'))" for name, key in keys]
    else:
        parts = [f"(SELECT COALESCE(MAX({key}), 0) + 1 FROM {name})"  # noqa: S608
                 for name, key in keys]
    return text("SELECT " + ", ".join(parts))


def lock_for_transaction(session: Session, name: str) -> None:
    """Hold the lock ``name`` until the session's transaction ends.

    PostgreSQL: a transaction-level advisory lock, so that processes creating the same
    thing on first use (a service identity, say) take turns and the second one finds what
    the first committed. SQLite serialises every writing transaction already: the
    transaction is begun here (``BEGIN IMMEDIATE`` takes the write lock), so what the
    caller does next, inside the database or outside it, happens under the lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        session.connection()
        return
    key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")
