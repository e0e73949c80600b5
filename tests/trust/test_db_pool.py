"""Pooled PostgreSQL connections: pinged after sitting idle, not at every checkout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from zhengyin.core import db
from zhengyin.core.db import make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connection to lose")
    created = make_engine(database_url, pool_size=1)
    yield created
    created.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return pings


def test_a_connection_handed_back_moments_ago_is_not_pinged(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _count_pings(engine, monkeypatch)

    first, second = _backend_pid(engine), _backend_pid(engine)

    assert first == second  # the same pooled connection
    assert pings == []


def test_an_idle_connection_is_pinged_at_checkout(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _backend_pid(engine)
    pings = _count_pings(engine, monkeypatch)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)

    _backend_pid(engine)

    assert pings == [1]


def test_an_idle_connection_the_server_dropped_is_replaced_without_an_error(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    dropped = _backend_pid(engine)
    with make_engine(str(engine.url)).connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)

    replacement = _backend_pid(engine)

    assert replacement != dropped


def test_a_worker_engine_opens_a_connection_per_use_on_either_backend(
        database_url: str) -> None:
    worker = make_engine(database_url, for_worker=True)
    try:
        with worker.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
        assert type(worker.pool).__name__ == "NullPool"
    finally:
        worker.dispose()
