"""First-hour fixes (issue 10): the order each annotator was shown, and what each admin import created.

Revision ID: 0006_first_hour
Revises: 0007_backend_limits
Create Date: 2026-12-04 16:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006_first_hour'
down_revision: str | None = '0007_backend_limits'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _add_import_job_id(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_job_id', sa.Integer(), nullable=True))
        # Partial: only rows an admin import job made are indexed, so REST ingest pays nothing for it.
        batch_op.create_index(f'ix_{table}_import_job_id', ['import_job_id'], unique=False,
                              postgresql_where=sa.text('import_job_id IS NOT NULL'),
                              sqlite_where=sa.text('import_job_id IS NOT NULL'))
        batch_op.create_foreign_key(batch_op.f(f'fk_{table}_import_job_id_import_jobs'), 'import_jobs',
                                    ['import_job_id'], ['id'], ondelete='SET NULL')


def upgrade() -> None:
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shown_order', JSON, nullable=True))
    _add_import_job_id('instructions')
    _add_import_job_id('candidates')


def downgrade() -> None:
    for table in ('candidates', 'instructions'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_import_job_id_import_jobs'), type_='foreignkey')
            batch_op.drop_index(f'ix_{table}_import_job_id')
            batch_op.drop_column('import_job_id')
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.drop_column('shown_order')
