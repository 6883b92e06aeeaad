"""receipts keep the handset and submit date they report, and when they were given up

`phone` and `submitted_at` let a receipt whose id matches nothing resolve the one message
left unknown by a lost submit answer to that number at that time; `unmatched_at` marks a
receipt that matched nothing in the end (`yizhan receipts unmatched`), so the late matcher
stops reading it. A partial index finds the messages a lost submit answer left unknown.

Revision ID: 0015_receipt_addresses
Revises: 0014_account_events
Create Date: 2026-12-07 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0015_receipt_addresses'
down_revision: str | None = '0014_account_events'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNANSWERED = "status = 'unknown' AND remote_id = ''"


def upgrade() -> None:
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=24), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('submitted_at', yizhan.storage.tables.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('unmatched_at', yizhan.storage.tables.UTCDateTime(),
                                      nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_unknown_unanswered', ['channel', 'phone'],
                              unique=False, sqlite_where=sa.text(UNANSWERED),
                              postgresql_where=sa.text(UNANSWERED))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_unknown_unanswered', sqlite_where=sa.text(UNANSWERED),
                            postgresql_where=sa.text(UNANSWERED))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('unmatched_at')
        batch_op.drop_column('submitted_at')
        batch_op.drop_column('phone')
