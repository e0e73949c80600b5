"""Use-copies recorded by their signed digest, the item setting that lets one attach the
original, and verification reports kept for the public page's download links.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 20:52:45.397169
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhengyin.core.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kept_reports',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('expires_at', zhengyin.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('report', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('token_sha256', name=op.f('pk_kept_reports'))
    )
    with op.batch_alter_table('kept_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kept_reports_expires_at'), ['expires_at'], unique=False)

    op.create_table('licence_use_copies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('use_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('licence_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('identifier', sa.String(length=100), nullable=False),
    sa.Column('signed_sha256', sa.String(length=64), nullable=False),
    sa.Column('fields', zhengyin.core.db.JSONDocument(), nullable=False),
    sa.Column('original_attached', sa.Boolean(), nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('made_at', zhengyin.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['licence_id'], ['licences.id'], name=op.f('fk_licence_use_copies_licence_id_licences')),
    sa.ForeignKeyConstraint(['use_id'], ['licence_uses.id'], name=op.f('fk_licence_use_copies_use_id_licence_uses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licence_use_copies')),
    sa.UniqueConstraint('signed_sha256', name=op.f('uq_licence_use_copies_signed_sha256'))
    )
    with op.batch_alter_table('licence_use_copies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_licence_use_copies_use_id'), ['use_id'], unique=False)

    with op.batch_alter_table('service_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('use_copy_original', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('service_items', schema=None) as batch_op:
        batch_op.drop_column('use_copy_original')

    with op.batch_alter_table('licence_use_copies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_licence_use_copies_use_id'))

    op.drop_table('licence_use_copies')
    with op.batch_alter_table('kept_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kept_reports_expires_at'))

    op.drop_table('kept_reports')
