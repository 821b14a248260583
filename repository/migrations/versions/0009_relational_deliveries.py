"""deliveries of several datasets: row keys of long datasets, the package a dataset came in

* ``delivery.row_key``: the columns identifying a row of a long dataset within a participant;
* ``delivery.package``: the multi-dataset delivery (files, a zip, a workbook's sheets) a
  dataset came in with;
* the same bytes may now be two datasets of one trial (two sheets of one workbook): the unique
  constraint on (trial, sha256) becomes one on (trial, dataset, sha256).

Both new columns are NULL in existing rows, which leaves their audit digests valid.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00.000000
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@contextmanager
def _foreign_keys_off() -> Iterator[None]:
    """SQLite rebuilds the table (batch mode) and drops the old one, which other tables' rows
    (and its own superseded_by_id) point at: with foreign keys on, SQLite counts those as
    violations it never forgets. As SQLite's own documentation does for a table rebuild, foreign
    keys are switched off for it (outside a transaction, where the pragma works), every key is
    checked with ``PRAGMA foreign_key_check`` before the rebuild is committed, and they are
    switched on again."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    dbapi = bind.connection.dbapi_connection
    assert dbapi is not None
    if dbapi.in_transaction:  # the earlier steps of this upgrade, complete in themselves
        dbapi.commit()
    bind.exec_driver_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            dbapi.rollback()
            raise RuntimeError(f"0008: foreign keys broken by the table rebuild: {broken[:5]}")
        if dbapi.in_transaction:
            dbapi.commit()
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys = ON")


def upgrade() -> None:
    with _foreign_keys_off(), op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('row_key', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('package', sa.JSON(), nullable=True))
        batch_op.drop_constraint('uq_delivery_trial_id_sha256', type_='unique')
        batch_op.create_unique_constraint('uq_delivery_trial_id_dataset_sha256',
                                          ['trial_id', 'dataset', 'sha256'])


def downgrade() -> None:
    with _foreign_keys_off(), op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_constraint('uq_delivery_trial_id_dataset_sha256', type_='unique')
        batch_op.create_unique_constraint('uq_delivery_trial_id_sha256', ['trial_id', 'sha256'])
        batch_op.drop_column('package')
        batch_op.drop_column('row_key')
