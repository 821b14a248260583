"""one current delivery per trial and dataset (partial unique index)

Stores written before ingests were serialised per trial may hold two current deliveries of
one trial and dataset (two ingests at the same time). They are put in a line first, as the
serialised ingests would have left them: each is superseded by the next one ingested (by id),
the latest stays current. The audit trail already records both ingests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CURRENT = "superseded_by_id IS NULL"


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        f"SELECT trial_id, dataset, id FROM delivery WHERE {_CURRENT} ORDER BY trial_id, "
        "dataset, id")).all()
    line: dict[tuple[int, str], list[int]] = {}
    for trial_id, dataset, delivery_id in rows:
        line.setdefault((trial_id, dataset), []).append(delivery_id)
    for ids in line.values():
        for older, newer in zip(ids, ids[1:]):
            conn.execute(sa.text("UPDATE delivery SET superseded_by_id = :newer WHERE id = "
                                 ":older"), {"newer": newer, "older": older})
    op.create_index('uq_delivery_current', 'delivery', ['trial_id', 'dataset'], unique=True,
                    sqlite_where=sa.text(_CURRENT), postgresql_where=sa.text(_CURRENT))


def downgrade() -> None:
    op.drop_index('uq_delivery_current', table_name='delivery')
