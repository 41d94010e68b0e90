"""evaluation sets, answers, benchmark tasks, human comparisons (issue 15)

Revision ID: 0013_evaluation
Revises: 0009_self_instruct
Create Date: 2026-12-04 16:31:08.183882
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013_evaluation'
down_revision: str | None = '0009_self_instruct'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('benchmark_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('rows', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('problems', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_benchmark_tasks_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_benchmark_tasks_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benchmark_tasks')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_benchmark_tasks_project_id_name'))
    )
    with op.batch_alter_table('benchmark_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benchmark_tasks_project_id'), ['project_id'], unique=False)

    op.create_table('evaluation_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('references', sa.Integer(), nullable=False),
    sa.Column('labels', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_evaluation_sets_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_evaluation_sets_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_sets')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_evaluation_sets_project_id_name'))
    )
    with op.batch_alter_table('evaluation_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_sets_project_id'), ['project_id'], unique=False)

    op.create_table('human_comparisons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('model_a', sa.String(length=200), nullable=False),
    sa.Column('model_b', sa.String(length=200), nullable=False),
    sa.Column('criteria', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('overlap', sa.Integer(), nullable=False),
    sa.Column('reservation_minutes', sa.Integer(), nullable=False),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_human_comparisons_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_human_comparisons_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['set_id'], ['evaluation_sets.id'], name=op.f('fk_human_comparisons_set_id_evaluation_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_human_comparisons'))
    )
    with op.batch_alter_table('human_comparisons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_human_comparisons_project_id'), ['project_id'], unique=False)

    op.create_table('comparison_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('comparison_id', sa.Integer(), nullable=False),
    sa.Column('instruction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('answer_a', sa.Text(), nullable=False),
    sa.Column('answer_b', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['comparison_id'], ['human_comparisons.id'], name=op.f('fk_comparison_items_comparison_id_human_comparisons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['instruction_id'], ['instructions.id'], name=op.f('fk_comparison_items_instruction_id_instructions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comparison_items')),
    sa.UniqueConstraint('comparison_id', 'instruction_id', name=op.f('uq_comparison_items_comparison_id_instruction_id'))
    )
    op.create_table('evaluation_answers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('instruction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instruction_id'], ['instructions.id'], name=op.f('fk_evaluation_answers_instruction_id_instructions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_evaluation_answers_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['set_id'], ['evaluation_sets.id'], name=op.f('fk_evaluation_answers_set_id_evaluation_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_answers')),
    sa.UniqueConstraint('set_id', 'model', 'instruction_id', name=op.f('uq_evaluation_answers_set_id_model_instruction_id'))
    )
    op.create_table('human_verdicts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('comparison_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('in_progress', 'submitted', 'skipped', name='verdictstatus', native_enum=False, length=20), nullable=False),
    sa.Column('a_on_left', sa.Boolean(), nullable=False),
    sa.Column('reserved_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('criteria', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('overall', sa.String(length=10), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['comparison_id'], ['human_comparisons.id'], name=op.f('fk_human_verdicts_comparison_id_human_comparisons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['comparison_items.id'], name=op.f('fk_human_verdicts_item_id_comparison_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_human_verdicts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_human_verdicts')),
    sa.UniqueConstraint('item_id', 'user_id', name=op.f('uq_human_verdicts_item_id_user_id'))
    )
    with op.batch_alter_table('human_verdicts', schema=None) as batch_op:
        batch_op.create_index('ix_human_verdicts_comparison_id_status', ['comparison_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('human_verdicts', schema=None) as batch_op:
        batch_op.drop_index('ix_human_verdicts_comparison_id_status')

    op.drop_table('human_verdicts')
    op.drop_table('evaluation_answers')
    op.drop_table('comparison_items')
    with op.batch_alter_table('human_comparisons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_human_comparisons_project_id'))

    op.drop_table('human_comparisons')
    with op.batch_alter_table('evaluation_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_sets_project_id'))

    op.drop_table('evaluation_sets')
    with op.batch_alter_table('benchmark_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benchmark_tasks_project_id'))

    op.drop_table('benchmark_tasks')
