"""initial store: topic, trial, arm, delivery, participant, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:25:22.028654
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import repository.models

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('at', repository.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('entity_type', sa.String(length=64), nullable=True),
    sa.Column('entity_id', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_event_hash')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_event_seq'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('topic',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', repository.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topic')),
    sa.UniqueConstraint('slug', name=op.f('uq_topic_slug'))
    )
    op.create_table('trial',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('acronym', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('registry_ids', sa.JSON(), nullable=False),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('contact_email', sa.String(length=200), nullable=True),
    sa.Column('id_column', sa.String(length=200), nullable=True),
    sa.Column('ipd_status', sa.String(length=20), nullable=False),
    sa.Column('ipd_status_reason', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_at', repository.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['topic_id'], ['topic.id'], name=op.f('fk_trial_topic_id_topic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trial')),
    sa.UniqueConstraint('topic_id', 'acronym', name=op.f('uq_trial_topic_id_acronym'))
    )
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trial_topic_id'), ['topic_id'], unique=False)

    op.create_table('arm',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('ratio', sa.Integer(), nullable=False),
    sa.Column('randomised_published', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_arm_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_arm')),
    sa.UniqueConstraint('trial_id', 'code', name=op.f('uq_arm_trial_id_code'))
    )
    with op.batch_alter_table('arm', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arm_trial_id'), ['trial_id'], unique=False)

    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('dataset', sa.String(length=64), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('format', sa.String(length=20), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_columns', sa.Integer(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('read_options', sa.JSON(), nullable=False),
    sa.Column('id_column', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.Date(), nullable=True),
    sa.Column('received_from', sa.String(length=200), nullable=True),
    sa.Column('ingested_at', repository.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ingested_by', sa.String(length=200), nullable=False),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.Column('identifier_override', sa.JSON(), nullable=True),
    sa.Column('id_override', sa.JSON(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['delivery.id'], name=op.f('fk_delivery_superseded_by_id_delivery')),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_delivery_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery')),
    sa.UniqueConstraint('trial_id', 'sha256', name=op.f('uq_delivery_trial_id_sha256'))
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_trial_id'), ['trial_id'], unique=False)

    op.create_table('participant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sa.String(length=32), nullable=False),
    sa.Column('first_delivery_id', sa.Integer(), nullable=False),
    sa.Column('created_at', repository.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['first_delivery_id'], ['delivery.id'], name=op.f('fk_participant_first_delivery_id_delivery')),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], name=op.f('fk_participant_trial_id_trial')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participant')),
    sa.UniqueConstraint('trial_id', 'pseudonym', name=op.f('uq_participant_trial_id_pseudonym'))
    )
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participant_trial_id'), ['trial_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participant_trial_id'))

    op.drop_table('participant')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_trial_id'))
        batch_op.drop_index(batch_op.f('ix_delivery_sha256'))

    op.drop_table('delivery')
    with op.batch_alter_table('arm', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arm_trial_id'))

    op.drop_table('arm')
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trial_topic_id'))

    op.drop_table('trial')
    op.drop_table('topic')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))

    op.drop_table('audit_event')
