"""Curation (issue 17): embeddings, quality scores, leakage flags, named subsets and ablations

Revision ID: 0014_curation
Revises: 0006_first_hour
Create Date: 2026-12-04 16:40:49.459523
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014_curation'
down_revision: str | None = '0006_first_hour'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ablations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('base_model', sa.String(length=500), nullable=False),
    sa.Column('method', sa.String(length=30), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('evaluation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('arms', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('running', 'succeeded', 'failed', 'cancelled', name='ablationstatus', native_enum=False, length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_ablations_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_ablations_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ablations'))
    )
    with op.batch_alter_table('ablations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ablations_project_id'), ['project_id'], unique=False)

    op.create_table('subsets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('rounds', sa.Integer(), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_subsets_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_subsets_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsets')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_subsets_project_id_name'))
    )
    with op.batch_alter_table('subsets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subsets_project_id'), ['project_id'], unique=False)

    op.create_table('curation_scores',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('instruction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('rules', 'judge', 'reward', name='scorekind', native_enum=False, length=20), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instruction_id'], ['instructions.id'], name=op.f('fk_curation_scores_instruction_id_instructions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_curation_scores_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_curation_scores_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_curation_scores')),
    sa.UniqueConstraint('instruction_id', 'kind', 'source', name=op.f('uq_curation_scores_instruction_id_kind_source'))
    )
    with op.batch_alter_table('curation_scores', schema=None) as batch_op:
        batch_op.create_index('ix_curation_scores_project_id_kind_source', ['project_id', 'kind', 'source'], unique=False)

    op.create_table('embeddings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instruction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model', sa.String(length=500), nullable=False),
    sa.Column('text_hash', sa.String(length=16), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instruction_id'], ['instructions.id'], name=op.f('fk_embeddings_instruction_id_instructions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_embeddings')),
    sa.UniqueConstraint('instruction_id', 'model', name=op.f('uq_embeddings_instruction_id_model'))
    )
    op.create_table('leakage_flags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('instruction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reference_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=False),
    sa.Column('model', sa.String(length=500), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instruction_id'], ['instructions.id'], name=op.f('fk_leakage_flags_instruction_id_instructions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_leakage_flags_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_leakage_flags_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reference_id'], ['instructions.id'], name=op.f('fk_leakage_flags_reference_id_instructions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leakage_flags')),
    sa.UniqueConstraint('instruction_id', 'reference_id', name=op.f('uq_leakage_flags_instruction_id_reference_id'))
    )
    with op.batch_alter_table('leakage_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leakage_flags_instruction_id'), ['instruction_id'], unique=False)
        batch_op.create_index('ix_leakage_flags_project_id', ['project_id'], unique=False)

    op.create_table('subset_members',
    sa.Column('subset_id', sa.Integer(), nullable=False),
    sa.Column('instruction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instruction_id'], ['instructions.id'], name=op.f('fk_subset_members_instruction_id_instructions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_subset_members_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subset_id'], ['subsets.id'], name=op.f('fk_subset_members_subset_id_subsets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('subset_id', 'instruction_id', name=op.f('pk_subset_members'))
    )
    with op.batch_alter_table('subset_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subset_members_instruction_id'), ['instruction_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subset_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subset_members_instruction_id'))

    op.drop_table('subset_members')
    with op.batch_alter_table('leakage_flags', schema=None) as batch_op:
        batch_op.drop_index('ix_leakage_flags_project_id')
        batch_op.drop_index(batch_op.f('ix_leakage_flags_instruction_id'))

    op.drop_table('leakage_flags')
    op.drop_table('embeddings')
    with op.batch_alter_table('curation_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_curation_scores_project_id_kind_source')

    op.drop_table('curation_scores')
    with op.batch_alter_table('subsets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subsets_project_id'))

    op.drop_table('subsets')
    with op.batch_alter_table('ablations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ablations_project_id'))

    op.drop_table('ablations')
