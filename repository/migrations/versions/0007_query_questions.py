"""queries as questions: query_finding, query.audience/detail/due_on, query_message.cells,
query_export.due_on/language, trial.language

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 10:00:00.000000

Every automatic query raised before this revision was about one finding: it gets one
``query_finding`` row made from its own columns, so later validations match it by that
finding's key and may group it with others.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import repository.models

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('query_finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('check_id', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=True),
    sa.Column('variable', sa.String(length=400), nullable=True),
    sa.Column('dataset', sa.String(length=64), nullable=False),
    sa.Column('row', sa.Integer(), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('cells', sa.JSON(), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('first_seen', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', repository.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', repository.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['query_id'], ['query.id'], name=op.f('fk_query_finding_query_id_query')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_finding')),
    sa.UniqueConstraint('query_id', 'key', name=op.f('uq_query_finding_query_id_key'))
    )
    with op.batch_alter_table('query_finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_query_finding_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_query_finding_query_id'), ['query_id'], unique=False)
    with op.batch_alter_table('query', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.String(length=10), server_default='trial',
                                      nullable=False))
        batch_op.add_column(sa.Column('detail', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
    op.execute("UPDATE query SET detail = '{}' WHERE detail IS NULL")
    with op.batch_alter_table('query', schema=None) as batch_op:
        batch_op.alter_column('detail', existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table('query_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cells', sa.JSON(), nullable=True))
    with op.batch_alter_table('query_export', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en',
                                      nullable=False))
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    _one_finding_per_query()


def _one_finding_per_query() -> None:
    bind = op.get_bind()
    query = sa.table('query', sa.column('id', sa.Integer), sa.column('key', sa.String),
                     sa.column('check_id', sa.String), sa.column('source', sa.String),
                     sa.column('severity', sa.String), sa.column('participant', sa.String),
                     sa.column('variable', sa.String), sa.column('value_received', sa.Text),
                     sa.column('question', sa.Text), sa.column('rows', sa.JSON),
                     sa.column('status', sa.String), sa.column('raised_at', sa.DateTime),
                     sa.column('updated_at', sa.DateTime), sa.column('closed_at', sa.DateTime))
    finding = sa.table('query_finding', *(sa.column(c) for c in (
        'query_id', 'key', 'check_id', 'source', 'severity', 'participant', 'variable',
        'dataset', 'row', 'cells', 'value', 'message', 'role', 'active', 'first_seen',
        'last_seen', 'cleared_at')))
    rows = bind.execute(sa.select(query).where(
        query.c.source.in_(['validation', 'integrity', 'mapping']))).mappings().all()
    for q in rows:
        row_list = q['rows'] or []
        bind.execute(finding.insert().values(
            query_id=q['id'], key=q['key'], check_id=q['check_id'], source=q['source'],
            severity=q['severity'], participant=q['participant'], variable=q['variable'],
            dataset='main', row=int(row_list[0]) if len(row_list) == 1 else None, cells=[],
            value=q['value_received'], message=q['question'], role='cause',
            active=q['status'] != 'closed', first_seen=q['raised_at'],
            last_seen=q['updated_at'], cleared_at=q['closed_at']))


def downgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('query_export', schema=None) as batch_op:
        batch_op.drop_column('language')
        batch_op.drop_column('due_on')
    with op.batch_alter_table('query_message', schema=None) as batch_op:
        batch_op.drop_column('cells')
    with op.batch_alter_table('query', schema=None) as batch_op:
        batch_op.drop_column('due_on')
        batch_op.drop_column('detail')
        batch_op.drop_column('audience')
    with op.batch_alter_table('query_finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_query_finding_query_id'))
        batch_op.drop_index(batch_op.f('ix_query_finding_key'))
    op.drop_table('query_finding')
