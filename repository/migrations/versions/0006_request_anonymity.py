"""data_request.anonymity_justification: why a request may go without k-anonymity

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymity_justification', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.drop_column('anonymity_justification')
