"""process_leases: the one process that keeps the embedded frequency counters

A serving process that accepts messages with rate_backend = "sql" holds the row
"rate_counters" (runtime/process_lease.py); a second one on the same store is refused.

Revision ID: 0018_process_lease
Revises: 0016_outbox_rank
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0018_process_lease'
down_revision: str | None = '0017_policy_trail'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('process_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=32), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('node', sa.String(length=255), nullable=False),
    sa.Column('url', sa.String(length=255), nullable=False),
    sa.Column('taken_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('expires_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_process_leases'))
    )


def downgrade() -> None:
    op.drop_table('process_leases')
