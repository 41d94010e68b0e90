"""Evaluation-only instructions (issue 12): a flag that keeps an instruction out of training exports and seeds

Revision ID: 0009_self_instruct
Revises: 0012_documents
Create Date: 2026-12-04 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009_self_instruct'
down_revision: str | None = '0012_documents'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('instructions', sa.Column('evaluation_only', sa.Boolean(), server_default=sa.false(),
                                            nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('instructions') as batch:
        batch.drop_column('evaluation_only')
