"""Licences recorded by the digest of their signed revision (issue 13 §1).

Verification identifies a document as a licence by the SHA-256 of the bytes the issuing
seal's signature covers, never by its metadata. Backfill: every licence PDF the registry
has written is born sealed (signing.pdf.pdfwriter.PdfWriter.finish_signed: one revision whose
seal's /ByteRange ends at the end of the file, B-T with nothing appended), so its signed
revision is the whole file and ``pdf_sha256`` is that digest. A row this leaves NULL (one
sealed by an older process while the migration ran) is still found: the directory falls
back to ``pdf_sha256`` where ``signed_sha256`` is NULL (registry.licencedirectory).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 10:12:03.512311
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('licences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed_sha256', sa.String(length=64), nullable=True))
    op.execute("UPDATE licences SET signed_sha256 = pdf_sha256 WHERE pdf_sha256 IS NOT NULL")
    with op.batch_alter_table('licences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_licences_signed_sha256'), ['signed_sha256'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('licences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_licences_signed_sha256'))
        batch_op.drop_column('signed_sha256')
