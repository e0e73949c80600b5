"""Deciding a state change on the current state: one mechanism for every layer.

Every state change (a licence's status, a seal's, a certificate's revocation or hold, an
API client, a consent, an agent grant, a key, an administrator) is decided on the row
as it is now, locked until the unit of work ends. Of two conflicting changes the second
waits for the first, then decides on what the first committed: exactly one wins and
the other is refused with a conflict (409), never a second success or a lost update.

* PostgreSQL: ``SELECT … FOR UPDATE``. Under READ COMMITTED a writer that finds the row
  locked waits until the holder commits, then reads the row as committed (PostgreSQL
  documentation, 13.2.1; rows that no longer match the ``WHERE`` are left out).
* SQLite: a writing unit of work begins with ``BEGIN IMMEDIATE`` and holds the
  database's write lock until it ends (:func:`zhengyin.core.db.make_engine`), so every read in
  it is current; SQLite has no ``FOR UPDATE`` and SQLAlchemy leaves it out.

Either way the session's copy of the row is replaced (``populate_existing``): a decision
is never taken on an object loaded before the lock. A change also records its time,
``at``, taken before the request waited; :func:`refuse_if_changed_after` refuses a
change whose row was changed by another after that time, since recording it would write
the history out of order (a seal's state history, a licence's events).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Row, Select, inspect, select
from sqlalchemy.orm import Session

from .db import ReadOnlyScopeError, lock_for_transaction, may_write
from .errors import ConcurrentChangeError

__all__ = ["hold_rows", "lock_name", "lock_row", "lock_rows", "refuse_if_changed_after"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


def _writing(session: Session) -> None:
    if not may_write(session):
        raise ReadOnlyScopeError("a state change needs a writing unit of work")


def lock_rows(session: Session, statement: Select[_T]) -> list[_T]:
    """The rows ``statement`` selects, as they are now, locked until the unit of work ends.

    For a decision over a set of rows (the active administrators): on PostgreSQL a row
    changed meanwhile so that it no longer matches is not returned.
    """
    _writing(session)
    locked = statement.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(locked))


def hold_rows(session: Session, statement: Select[*_Ts]) -> Sequence[Row[*_Ts]]:
    """The rows ``statement`` selects, held against a state change until the unit of work
    ends: for a *use* of something (stamping with a seal) that must finish under the state
    it started in. Uses do not wait for one another (``FOR KEY SHARE``); a state change
    (``FOR UPDATE``, :func:`lock_row`) waits for the uses in flight, and they for it. On
    SQLite the writing unit's database lock does the same.
    """
    _writing(session)
    return session.execute(statement.with_for_update(key_share=True)).all()


def lock_row(session: Session, entity: type[_T], key: Any) -> _T | None:
    """The row of ``entity`` with primary key ``key`` as it is now, locked; None if none.

    An object the session already holds for that row is refreshed in place, so a
    caller's reference to it is current too.
    """
    primary = inspect(entity).primary_key
    if len(primary) != 1:
        raise TypeError(f"{entity.__name__} has a composite primary key; use lock_rows")
    rows = lock_rows(session, select(entity).where(primary[0] == key))
    return rows[0] if rows else None


def lock_name(session: Session, name: str) -> None:
    """Hold the lock ``name`` until the unit of work ends: for a decision that has no row
    to lock (something created on first use, a key in the key store)."""
    _writing(session)
    lock_for_transaction(session, name)


def refuse_if_changed_after(changed_at: datetime | None, at: datetime, what: str) -> None:
    """Refuse a change made at ``at`` to something last changed later (``changed_at``)."""
    if changed_at is not None and changed_at > at:
        raise ConcurrentChangeError(
            f"{what} was changed at {changed_at.isoformat()}, after this request "
            f"({at.isoformat()})",
            hint="read its current state and send the request again",
        )
