"""queries, corrections, users, query exports; arm.harmonised

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:39:47.444126
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import repository.models

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('arm', schema=None) as batch_op:
        batch_op.add_column(sa.Column('harmonised', sa.String(length=100), nullable=True))
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_app_user_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('name', name=op.f('uq_app_user_name'))
    )
    op.create_table('query_export',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('exported_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('exported_by', sa.String(length=200), nullable=False),
    sa.Column('queries', sa.JSON(), nullable=False),
    sa.Column('imported_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_query_export_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_export')),
    sa.UniqueConstraint('token', name=op.f('uq_query_export_token'))
    )
    with op.batch_alter_table('query_export', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_query_export_trial_id'), ['trial_id'], unique=False)

    op.create_table('query',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=True),
    sa.Column('variable', sa.String(length=100), nullable=True),
    sa.Column('check_id', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('resolution', sa.String(length=30), nullable=True),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('value_received', sa.Text(), nullable=True),
    sa.Column('source_columns', sa.JSON(), nullable=False),
    sa.Column('raw_values', sa.JSON(), nullable=False),
    sa.Column('rows', sa.JSON(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('assigned_to', sa.String(length=200), nullable=True),
    sa.Column('raised_by', sa.String(length=200), nullable=False),
    sa.Column('raised_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], name=op.f('fk_query_delivery_id_delivery')),
    sa.ForeignKeyConstraint(['topic_id'], ['topic.id'], name=op.f('fk_query_topic_id_topic')),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_query_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query')),
    sa.UniqueConstraint('topic_id', 'key', name=op.f('uq_query_topic_id_key'))
    )
    with op.batch_alter_table('query', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_query_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_query_topic_id'), ['topic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_query_trial_id'), ['trial_id'], unique=False)

    op.create_table('correction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=False),
    sa.Column('occurrence', sa.Integer(), nullable=False),
    sa.Column('source_column', sa.String(length=200), nullable=False),
    sa.Column('variable', sa.String(length=100), nullable=True),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('query_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('carried_from_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['carried_from_id'], ['correction.id'], name=op.f('fk_correction_carried_from_id_correction')),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], name=op.f('fk_correction_delivery_id_delivery')),
    sa.ForeignKeyConstraint(['query_id'], ['query.id'], name=op.f('fk_correction_query_id_query')),
    sa.ForeignKeyConstraint(['topic_id'], ['topic.id'], name=op.f('fk_correction_topic_id_topic')),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_correction_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_correction'))
    )
    with op.batch_alter_table('correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_correction_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_topic_id'), ['topic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_trial_id'), ['trial_id'], unique=False)

    op.create_table('query_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status_from', sa.String(length=20), nullable=True),
    sa.Column('status_to', sa.String(length=20), nullable=True),
    sa.Column('response_code', sa.String(length=30), nullable=True),
    sa.Column('corrected_value', sa.Text(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('export_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['export_id'], ['query_export.id'], name=op.f('fk_query_message_export_id_query_export')),
    sa.ForeignKeyConstraint(['query_id'], ['query.id'], name=op.f('fk_query_message_query_id_query')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_message'))
    )
    with op.batch_alter_table('query_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_query_message_query_id'), ['query_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('arm', schema=None) as batch_op:
        batch_op.drop_column('harmonised')
    with op.batch_alter_table('query_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_query_message_query_id'))

    op.drop_table('query_message')
    with op.batch_alter_table('correction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_correction_trial_id'))
        batch_op.drop_index(batch_op.f('ix_correction_topic_id'))
        batch_op.drop_index(batch_op.f('ix_correction_status'))

    op.drop_table('correction')
    with op.batch_alter_table('query', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_query_trial_id'))
        batch_op.drop_index(batch_op.f('ix_query_topic_id'))
        batch_op.drop_index(batch_op.f('ix_query_status'))

    op.drop_table('query')
    with op.batch_alter_table('query_export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_query_export_trial_id'))

    op.drop_table('query_export')
    op.drop_table('app_user')
