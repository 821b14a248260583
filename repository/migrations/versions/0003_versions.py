"""releases, data requests, extracts, withdrawals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:53:30.480670
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import repository.models

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('data_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('requestor', sa.String(length=200), nullable=False),
    sa.Column('institution', sa.String(length=300), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('trials', sa.JSON(), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('dua_reference', sa.String(length=300), nullable=False),
    sa.Column('quasi_identifiers', sa.JSON(), nullable=False),
    sa.Column('k', sa.Integer(), nullable=True),
    sa.Column('l_diversity', sa.Integer(), nullable=True),
    sa.Column('sensitive_attribute', sa.String(length=100), nullable=True),
    sa.Column('date_shift', sa.Boolean(), nullable=False),
    sa.Column('max_shift_days', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('submitted_by', sa.String(length=200), nullable=False),
    sa.Column('submitted_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('approved_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['topic_id'], ['topic.id'], name=op.f('fk_data_request_topic_id_topic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_request')),
    sa.UniqueConstraint('topic_id', 'code', name=op.f('uq_data_request_topic_id_code'))
    )
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_request_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_request_topic_id'), ['topic_id'], unique=False)

    op.create_table('release',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('tag', sa.String(length=200), nullable=False),
    sa.Column('commit', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('data_sha256', sa.String(length=64), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('n_columns', sa.Integer(), nullable=False),
    sa.Column('dictionary_version', sa.String(length=64), nullable=False),
    sa.Column('remote_url', sa.String(length=1000), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['topic_id'], ['topic.id'], name=op.f('fk_release_topic_id_topic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release')),
    sa.UniqueConstraint('topic_id', 'version', name=op.f('uq_release_topic_id_version'))
    )
    with op.batch_alter_table('release', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_topic_id'), ['topic_id'], unique=False)

    op.create_table('extract',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('watermark', sa.String(length=64), nullable=False),
    sa.Column('output', sa.String(length=1000), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['release.id'], name=op.f('fk_extract_release_id_release')),
    sa.ForeignKeyConstraint(['request_id'], ['data_request.id'], name=op.f('fk_extract_request_id_data_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_extract')),
    sa.UniqueConstraint('watermark', name=op.f('uq_extract_watermark'))
    )
    with op.batch_alter_table('extract', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_extract_release_id'), ['release_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_extract_request_id'), ['request_id'], unique=False)

    op.create_table('withdrawal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['topic_id'], ['topic.id'], name=op.f('fk_withdrawal_topic_id_topic')),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_withdrawal_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawal')),
    sa.UniqueConstraint('trial_id', 'participant', name=op.f('uq_withdrawal_trial_id_participant'))
    )
    with op.batch_alter_table('withdrawal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_withdrawal_topic_id'), ['topic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_withdrawal_trial_id'), ['trial_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('withdrawal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_withdrawal_trial_id'))
        batch_op.drop_index(batch_op.f('ix_withdrawal_topic_id'))

    op.drop_table('withdrawal')
    with op.batch_alter_table('extract', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_extract_request_id'))
        batch_op.drop_index(batch_op.f('ix_extract_release_id'))

    op.drop_table('extract')
    with op.batch_alter_table('release', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_release_topic_id'))

    op.drop_table('release')
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_request_topic_id'))
        batch_op.drop_index(batch_op.f('ix_data_request_status'))

    op.drop_table('data_request')
