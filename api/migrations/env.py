"""Alembic environment: runs against the engine the ``zhengyin`` command configured."""

from __future__ import annotations

from alembic import context

from zhengyin.api.database import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
