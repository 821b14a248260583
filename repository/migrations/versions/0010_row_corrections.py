"""corrections of rows of long datasets: ``correction.dataset`` and ``correction.row_key``

* ``correction.dataset``: the trial's dataset whose cell is corrected ("main": the participant
  table's own dataset, as before);
* ``correction.row_key``: for a row of a long dataset (adverse events, visits), the row's own key
  as the trial wrote it (e.g. ``{"AESEQ": "3"}``), so the correction follows the row when a
  re-delivery re-orders or adds rows. NULL for participant rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:10:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('correction', sa.Column('dataset', sa.String(length=64), nullable=False,
                                          server_default='main'))
    op.add_column('correction', sa.Column('row_key', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('correction', schema=None) as batch_op:
        batch_op.drop_column('row_key')
        batch_op.drop_column('dataset')
