"""push settings, push outbox, daily statistics, waiting-messages index (issue 7)

Revision ID: 0007_push
Revises: 0004_policy_state
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0007_push'
down_revision: str | None = '0004_policy_state'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WAITING = sa.text("status = 'waiting'")


def upgrade() -> None:
    op.create_table('push_endpoints',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column('receipt_url', sa.Text(), server_default='', nullable=False),
    sa.Column('uplink_url', sa.Text(), server_default='', nullable=False),
    sa.Column('review_url', sa.Text(), server_default='', nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('updated_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_push_endpoints_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_push_endpoints'))
    )
    op.create_table('push_items',
    sa.Column('id', AutoId, autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('topic', sa.String(length=24), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('available_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('claimed_until', yizhan.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_items'))
    )
    op.create_index('ix_push_items_available', 'push_items', ['available_at'])
    op.create_index('ix_push_items_account_topic', 'push_items', ['account_id', 'topic', 'id'])
    op.create_index(op.f('ix_push_items_message_id'), 'push_items', ['message_id'])
    op.create_table('stats_daily',
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.String(length=8), nullable=False),
    sa.Column('sign_name', sa.String(length=64), nullable=False),
    sa.Column('template_code', sa.String(length=32), nullable=False),
    sa.Column('template_type', sa.String(length=16), nullable=False),
    sa.Column('carrier', sa.String(length=16), nullable=False),
    sa.Column('sent', sa.BigInteger(), nullable=False),
    sa.Column('success', sa.BigInteger(), nullable=False),
    sa.Column('failed', sa.BigInteger(), nullable=False),
    sa.Column('unknown', sa.BigInteger(), nullable=False),
    sa.Column('waiting', sa.BigInteger(), nullable=False),
    sa.Column('billed_parts', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'day', 'sign_name', 'template_code', 'template_type', 'carrier', name=op.f('pk_stats_daily'))
    )
    op.create_index('ix_messages_waiting_submitted', 'messages', ['submitted_at'],
                    sqlite_where=WAITING, postgresql_where=WAITING)


def downgrade() -> None:
    op.drop_index('ix_messages_waiting_submitted', table_name='messages')
    op.drop_table('stats_daily')
    op.drop_index(op.f('ix_push_items_message_id'), table_name='push_items')
    op.drop_index('ix_push_items_account_topic', table_name='push_items')
    op.drop_index('ix_push_items_available', table_name='push_items')
    op.drop_table('push_items')
    op.drop_table('push_endpoints')
