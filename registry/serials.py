"""Serial numbers: one counter row per (licence type, issuer, year), bumped by one statement."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from zhengyin.core.db import session_scope

from .models import SerialCounter

__all__ = ["SerialAllocator"]


class SerialAllocator:
    """Allocates serial numbers from a counter row per (type, issuer, year).

    The counter is bumped, or created at its first use, by one upsert (``INSERT ... ON
    CONFLICT DO UPDATE ... RETURNING``): atomic by itself and one round trip. On
    PostgreSQL it runs in autocommit on a connection of its own, so concurrent issuance
    holds the counter's row lock for that one statement, not for the whole rendering and
    sealing; a failed issuance leaves a gap (serials are unique, not gapless). SQLite
    serialises writers anyway, so there the caller's transaction is used.
    """

    def __init__(self, factory: sessionmaker[Session] | None = None) -> None:
        self._factory = factory

    def allocate(self, session: Session, type_code: str, issuer_code: str, year: int,
                 count: int = 1) -> int:
        """The first of ``count`` consecutive new serial numbers."""
        if self._factory is None or session.get_bind().dialect.name == "sqlite":
            return self._bump(session, type_code, issuer_code, year, count)
        with session_scope(self._factory, one_write=True) as own:
            return self._bump(own, type_code, issuer_code, year, count)

    @staticmethod
    def _bump(session: Session, type_code: str, issuer_code: str, year: int, count: int) -> int:
        statement = _bump_statement(session.get_bind().dialect.name)
        after = session.execute(statement, {"type_code": type_code, "issuer_code": issuer_code,
                                            "year": year, "first_next": count + 1,
                                            "count": count}).scalar_one()
        return int(after) - count

    @staticmethod
    def serial(year: int, value: int) -> str:
        """The identifier's serial segment: year and an eight-digit counter."""
        return f"{year}{value:08d}"


@lru_cache(maxsize=4)
def _bump_statement(dialect_name: str) -> Any:
    """The upsert, built once per dialect (its compiled form is then cached).

    On the table, not the mapped class: a Core statement skips the ORM's bulk-insert path.
    """
    module: Any = postgresql if dialect_name == "postgresql" else sqlite
    counters = cast(Table, SerialCounter.__table__)
    statement = module.insert(counters).values(
        type_code=bindparam("type_code"), issuer_code=bindparam("issuer_code"),
        year=bindparam("year"), next_value=bindparam("first_next"))
    return statement.on_conflict_do_update(
        index_elements=[counters.c.type_code, counters.c.issuer_code, counters.c.year],
        set_={"next_value": counters.c.next_value + bindparam("count")},
    ).returning(counters.c.next_value)
