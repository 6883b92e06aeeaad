"""frequency counters: one appended log row per commit instead of a row per key

`rate_counter_log` holds, per group commit, the entries of the frequency-counter keys that
commit changed (storage/rate_counters.py). `rate_counters` stays: its rows are read back
at start and purged as their windows end, so no data moves.

Revision ID: 0011_rate_counter_log
Revises: 0010_partial_message_indexes
Create Date: 2026-12-06 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_rate_counter_log'
down_revision: str | None = '0010_partial_message_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_counter_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('written_at', sa.BigInteger(), nullable=False),
    sa.Column('entries', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_counter_log'))
    )
    with op.batch_alter_table('rate_counter_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_counter_log_written_at'), ['written_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rate_counter_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_counter_log_written_at'))
    op.drop_table('rate_counter_log')
