"""frequency control: counters, account limits, whitelist, audit

Revision ID: 0005_frequency
Revises: 0008_channels
Create Date: 2026-11-25 19:27:48.511528
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0005_frequency'
down_revision: str | None = '0008_channels'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_counters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('minute_start', sa.BigInteger(), nullable=False),
    sa.Column('minute_count', sa.Integer(), nullable=False),
    sa.Column('hour_start', sa.BigInteger(), nullable=False),
    sa.Column('hour_count', sa.Integer(), nullable=False),
    sa.Column('day_start', sa.BigInteger(), nullable=False),
    sa.Column('day_count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_counters'))
    )
    with op.batch_alter_table('rate_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_counters_expires_at'), ['expires_at'], unique=False)

    op.create_table('account_rate_limits',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('max_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_rate_limits_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'rule', name=op.f('pk_account_rate_limits'))
    )
    op.create_table('rate_settings_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('old', sa.Text(), nullable=False),
    sa.Column('new', sa.Text(), nullable=False),
    sa.Column('at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_rate_settings_audit_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_settings_audit'))
    )
    with op.batch_alter_table('rate_settings_audit', schema=None) as batch_op:
        batch_op.create_index('ix_rate_settings_audit_account_at', ['account_id', 'at'], unique=False)

    op.create_table('rate_whitelist',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('phone', sa.String(length=24), nullable=False),
    sa.Column('added_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_rate_whitelist_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'phone', name=op.f('pk_rate_whitelist'))
    )


def downgrade() -> None:
    op.drop_table('rate_whitelist')
    with op.batch_alter_table('rate_settings_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_settings_audit_account_at')

    op.drop_table('rate_settings_audit')
    op.drop_table('account_rate_limits')
    with op.batch_alter_table('rate_counters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_counters_expires_at'))

    op.drop_table('rate_counters')
