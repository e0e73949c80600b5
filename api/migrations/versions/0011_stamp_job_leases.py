"""Stamp jobs carry their runner and a heartbeat, so a job whose process died is ended.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhengyin.core.db

revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stamp_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('runner', sa.String(length=96), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', zhengyin.core.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index('ix_stamp_jobs_status_heartbeat', ['status', 'heartbeat_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stamp_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_stamp_jobs_status_heartbeat')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('runner')
