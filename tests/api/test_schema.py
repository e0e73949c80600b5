"""The database schema: a database behind the code is refused; models and migrations agree.

Each test gets a brand-new database per backend (SQLite and PostgreSQL), never the
session's shared one, because it migrates it to a chosen revision.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from zhengyin.api.database import (
    alembic_config,
    check_schema,
    current_revision,
    head_revision,
    metadata,
)
from zhengyin.api.database import upgrade as upgrade_to
from zhengyin.core.db import make_engine
from zhengyin.core.errors import DatabaseSchemaError

from ..conftest import _DB_BACKENDS, _postgres_database

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


@pytest.fixture(params=_DB_BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database."""
    if request.param == "postgresql":
        yield from _postgres_database()
    else:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def engine(empty_database: str) -> Iterator[Engine]:
    current = make_engine(empty_database)
    try:
        yield current
    finally:
        current.dispose()


def _previous_revision(engine: Engine) -> str:
    """The revision just before this code's head."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    head_id = script.get_current_head()
    assert head_id is not None
    head = script.get_revision(head_id)
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


def test_a_database_one_migration_behind_is_refused_naming_the_command(engine: Engine) -> None:
    older = _previous_revision(engine)
    upgrade_to(engine, older)

    with pytest.raises(DatabaseSchemaError) as refused:
        check_schema(engine)

    assert refused.value.message == (f"the database schema is at revision {older}, "
                                     f"but this version needs {head_revision(engine)}")
    assert refused.value.hint == "run: zhengyin db upgrade"


def test_the_service_refuses_to_start_on_an_older_schema(engine: Engine, empty_database: str,
                                                         tmp_path: Path) -> None:
    older = _previous_revision(engine)
    upgrade_to(engine, older)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_DATA_DIR=str(tmp_path / "data"), ZHENGYIN_DATABASE_URL=empty_database,
               ZHENGYIN_LOG_JSON="false")

    result = subprocess.run([ZHENGYIN, "serve", "--port", "1"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: the database schema is at revision {older}, but this version needs "
        f"{head_revision(engine)} (hint: run: zhengyin db upgrade)"]
    assert current_revision(engine) == older  # nothing was migrated behind the operator's back


def test_db_upgrade_brings_an_older_schema_to_the_head(engine: Engine) -> None:
    upgrade_to(engine, _previous_revision(engine))

    upgrade_to(engine)

    assert current_revision(engine) == head_revision(engine)
    check_schema(engine)


def test_the_migrations_build_exactly_the_models_schema(engine: Engine) -> None:
    upgrade_to(engine)

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata())

    assert differences == []
