"""audit chain keyed with HMAC: audit_event.scheme and row_digests, audit_head.key_id

Existing events keep their plain SHA-256 hashes and are marked ``scheme = 'sha256'``: Alembic
cannot reach the audit key (it lives in a file apart from the database), so the re-chaining under
the key is done by ``ipdrepo db upgrade`` / ``ipdrepo audit rekey`` right after this migration
(see repository.audit.rekey), which records it in an ``audit.rekey`` event.

Downgrading drops the columns; a chain already keyed then no longer verifies with the older
ipdrepo (restore the pre-upgrade backup instead).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('row_digests', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('scheme', sa.String(length=20), nullable=False,
                                      server_default='sha256'))
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('scheme', server_default=None)
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('key_id')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('scheme')
        batch_op.drop_column('row_digests')
