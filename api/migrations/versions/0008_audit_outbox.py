"""The audit outbox: records committed with their transaction, chained by the sequencer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 11:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhengyin.core.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', zhengyin.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=160), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=160), nullable=False),
    sa.Column('details', zhengyin.core.db.JSONDocument(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_outbox'))
    )


def downgrade() -> None:
    op.drop_table('audit_outbox')
