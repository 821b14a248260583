"""the service: credentials, one-time links, API tokens, sessions, login attempts, request
members, the access log, trialists' uploads, query attachments; data_request.dua_version/dua_sha256/dua_file_name

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import repository.models

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('access_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('request_code', sa.String(length=64), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('what', sa.String(length=500), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('via', sa.String(length=200), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log'))
    )
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_log_request_code'), ['request_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_log_user_name'), ['user_name'], unique=False)

    op.create_table('login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_name', sa.String(length=200), nullable=False),
    sa.Column('remote', sa.String(length=64), nullable=False),
    sa.Column('at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempt'))
    )
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_attempt_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_attempt_remote'), ['remote'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_attempt_user_name'), ['user_name'], unique=False)

    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_token_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash')),
    sa.UniqueConstraint('user_id', 'name', name=op.f('uq_api_token_user_id_name'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)

    op.create_table('credential',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=True),
    sa.Column('totp_secret', sa.Text(), nullable=True),
    sa.Column('totp_enabled', sa.Boolean(), nullable=False),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
    sa.Column('password_changed_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_credential_user_id_app_user')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_credential'))
    )
    op.create_table('one_time_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_one_time_link_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_one_time_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_one_time_link_token_hash'))
    )
    with op.batch_alter_table('one_time_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_one_time_link_user_id'), ['user_id'], unique=False)

    op.create_table('request_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('added_by', sa.String(length=200), nullable=False),
    sa.Column('added_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['data_request.id'], name=op.f('fk_request_member_request_id_data_request')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_request_member_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_member')),
    sa.UniqueConstraint('request_id', 'user_id', name=op.f('uq_request_member_request_id_user_id'))
    )
    with op.batch_alter_table('request_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_member_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_request_member_user_id'), ['user_id'], unique=False)

    op.create_table('upload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('dataset', sa.String(length=64), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_columns', sa.Integer(), nullable=False),
    sa.Column('id_column', sa.String(length=200), nullable=False),
    sa.Column('uploaded_by', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], name=op.f('fk_upload_delivery_id_delivery')),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_upload_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload'))
    )
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upload_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_upload_trial_id'), ['trial_id'], unique=False)

    op.create_table('web_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_web_session_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_session_token_hash'))
    )
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_session_user_id'), ['user_id'], unique=False)

    op.create_table('query_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['query_id'], ['query.id'], name=op.f('fk_query_attachment_query_id_query')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_attachment'))
    )
    with op.batch_alter_table('query_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_query_attachment_query_id'), ['query_id'], unique=False)

    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dua_version', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('dua_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('dua_file_name', sa.String(length=300), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.drop_column('dua_file_name')
        batch_op.drop_column('dua_sha256')
        batch_op.drop_column('dua_version')

    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_session_user_id'))

    op.drop_table('web_session')
    with op.batch_alter_table('query_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_query_attachment_query_id'))

    op.drop_table('query_attachment')
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_trial_id'))
        batch_op.drop_index(batch_op.f('ix_upload_status'))

    op.drop_table('upload')
    with op.batch_alter_table('request_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_member_user_id'))
        batch_op.drop_index(batch_op.f('ix_request_member_request_id'))

    op.drop_table('request_member')
    with op.batch_alter_table('one_time_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_one_time_link_user_id'))

    op.drop_table('one_time_link')
    op.drop_table('credential')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))

    op.drop_table('api_token')
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_attempt_user_name'))
        batch_op.drop_index(batch_op.f('ix_login_attempt_remote'))
        batch_op.drop_index(batch_op.f('ix_login_attempt_at'))

    op.drop_table('login_attempt')
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_log_user_name'))
        batch_op.drop_index(batch_op.f('ix_access_log_request_code'))
        batch_op.drop_index(batch_op.f('ix_access_log_at'))

    op.drop_table('access_log')
