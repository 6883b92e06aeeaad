"""signature nonces appended by the one accepting process (rate_backend = "sql")

`nonce_log` holds the nonces that the replay window in memory decides on
(storage/nonces.py); `nonces` stays for deployments with several API processes.

Revision ID: 0012_nonce_log
Revises: 0011_rate_counter_log
Create Date: 2026-12-06 10:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0012_nonce_log'
down_revision: str | None = '0011_rate_counter_log'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('nonce_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('access_key_id', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('seen_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nonce_log'))
    )
    with op.batch_alter_table('nonce_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nonce_log_seen_at'), ['seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('nonce_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nonce_log_seen_at'))
    op.drop_table('nonce_log')
