"""Audit checkpoints sign the one before them and the interval, so a missing one is named.

A checkpoint's ``prev`` is the sequence of the checkpoint before it (0: the first) and
``every`` the interval (``ZHENGYIN_AUDIT_CHECKPOINT_EVERY``) its signer used (0: signed on
request), both signed with it: ``audit verify`` then finds a deleted checkpoint from its
successor, and a missing newest one from the interval. Rows written before have NULL:
version 1 checkpoints.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_checkpoints') as batch:
        batch.add_column(sa.Column('every', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('prev', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_checkpoints') as batch:
        batch.drop_column('prev')
        batch.drop_column('every')
