"""Status lists (draft-ietf-oauth-status-list-20): the lists, their allocated slots, and
each licence's entry.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhengyin.core.db

revision = '0015'
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('status_lists',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('bits', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('created_at', zhengyin.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_at', zhengyin.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', zhengyin.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_lists'))
    )
    op.create_table('status_list_slots',
    sa.Column('list_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('idx', sa.Integer(), autoincrement=False, nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['status_lists.id'], name=op.f('fk_status_list_slots_list_id_status_lists')),
    sa.PrimaryKeyConstraint('list_id', 'idx', name=op.f('pk_status_list_slots'))
    )
    with op.batch_alter_table('licences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_list_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('status_list_index', sa.Integer(), nullable=True))
        batch_op.create_index('ix_licences_status_list_status', ['status_list_id', 'status'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_licences_status_list_id_status_lists'), 'status_lists', ['status_list_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('licences', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_licences_status_list_id_status_lists'), type_='foreignkey')
        batch_op.drop_index('ix_licences_status_list_status')
        batch_op.drop_column('status_list_index')
        batch_op.drop_column('status_list_id')

    op.drop_table('status_list_slots')
    op.drop_table('status_lists')
