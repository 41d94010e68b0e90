"""Leases and hits of the rate limit every worker shares, for installations without Redis (issue 11)

Revision ID: 0007_backend_limits
Revises: 0013_evaluation
Create Date: 2026-12-04 16:13:28.188192
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_backend_limits'
down_revision: str | None = '0013_evaluation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('backend_slots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('backend', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('holder', sa.String(length=32), nullable=False),
    sa.Column('cost', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backend_slots'))
    )
    with op.batch_alter_table('backend_slots', schema=None) as batch_op:
        batch_op.create_index('ix_backend_slots_backend_kind', ['backend', 'kind', 'expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backend_slots', schema=None) as batch_op:
        batch_op.drop_index('ix_backend_slots_backend_kind')

    op.drop_table('backend_slots')
