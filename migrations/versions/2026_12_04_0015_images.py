"""Images on instructions, corrections of earlier assistant turns, and an approval's corrected turns (issue 16)

Revision ID: 0015_images
Revises: 0011_flan
Create Date: 2026-12-04 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0015_images'
down_revision: str | None = '0011_flan'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('images',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_images'))
    )
    with op.batch_alter_table('instructions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('images', JSON, server_default='[]', nullable=False))
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('turn_edits', JSON, server_default='{}', nullable=False))
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history', JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_column('history')
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.drop_column('turn_edits')
    with op.batch_alter_table('instructions', schema=None) as batch_op:
        batch_op.drop_column('images')
    op.drop_table('images')
