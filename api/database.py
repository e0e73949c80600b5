"""Schema management: Alembic configuration, upgrade and the start-up schema check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, text

from zhengyin.core.db import Base
from zhengyin.core.errors import DatabaseSchemaError

__all__ = ["alembic_config", "check_schema", "metadata", "ping", "upgrade"]


def metadata() -> MetaData:
    """The metadata of every layer's tables (importing each models module registers it)."""
    import zhengyin.api.models
    import zhengyin.core.models
    import zhengyin.trust.models  # noqa: F401

    for module in ("zhengyin.signing.models", "zhengyin.registry.models"):
        try:
            __import__(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return Base.metadata


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    """The newest migration this code knows."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(alembic_config(engine), revision)


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial statement (readiness probes)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_schema(engine: Engine) -> None:
    """Refuse to run on a database whose schema is not at this code's head."""
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise DatabaseSchemaError(
            f"the database schema is {state}, but this version needs {head}",
            hint="run: zhengyin db upgrade",
        )
