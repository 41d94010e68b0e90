"""Generation jobs are answer jobs on the job engine (issue 11): the old table goes.

Its rows were one-off jobs whose candidates stay (they carry their model and run id); new generations are
`answer` jobs, shown on the one job page.

Revision ID: 0016_generations_as_jobs
Revises: 0014_curation
Create Date: 2026-12-04 18:25:45
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0016_generations_as_jobs'
down_revision: str | None = '0014_curation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_generation_jobs_project_id'))
        batch_op.drop_index(batch_op.f('ix_generation_jobs_run_id'))
    op.drop_table('generation_jobs')


def downgrade() -> None:
    op.create_table('generation_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('base_model', sa.String(length=500), nullable=False),
    sa.Column('adapter_dir', sa.String(length=1000), nullable=True),
    sa.Column('model_name', sa.String(length=200), nullable=False),
    sa.Column('filter', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', 'cancelled', name='generationstatus', native_enum=False, length=20), nullable=False),
    sa.Column('instructions_total', sa.Integer(), nullable=False),
    sa.Column('instructions_done', sa.Integer(), nullable=False),
    sa.Column('candidates_added', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_generation_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_generation_jobs_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['tuning_runs.id'], name=op.f('fk_generation_jobs_run_id_tuning_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_generation_jobs'))
    )
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_generation_jobs_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_generation_jobs_run_id'), ['run_id'], unique=False)
