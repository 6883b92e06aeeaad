"""outbox: the dispatch order (rank time = due time + the class's offset)

The claim took the outbox in id order (first in, first out); it now walks
`ix_outbox_topic_rank`, so verification codes go ahead of notifications and bulk, with
aging (domain/priority.py). Items already queued rank at their due time. On SQLite the
ids are no longer reused (AUTOINCREMENT), so the highest id counts what entered the outbox
(policy/backpressure.py).

Revision ID: 0016_outbox_rank
Revises: 0015_receipt_addresses
Create Date: 2026-12-07 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0016_outbox_rank'
down_revision: str | None = '0015_receipt_addresses'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rank_at', yizhan.storage.tables.UTCDateTime(),
                                      nullable=True))
    op.execute("UPDATE outbox SET rank_at = available_at")
    # (SQLite: the table is rebuilt, now with AUTOINCREMENT, so that ids are never reused.)
    with op.batch_alter_table('outbox', schema=None, recreate='auto',
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('rank_at', existing_type=yizhan.storage.tables.UTCDateTime(),
                              nullable=False)
        batch_op.drop_index('ix_outbox_topic_available')
        batch_op.create_index('ix_outbox_topic_rank', ['topic', 'rank_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_topic_rank')
        batch_op.create_index('ix_outbox_topic_available', ['topic', 'available_at'],
                              unique=False)
        batch_op.drop_column('rank_at')
