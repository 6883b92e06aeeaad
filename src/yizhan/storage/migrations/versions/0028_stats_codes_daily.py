"""failure codes per day: the leading codes of a population (docs/diagnosis.md "A
population: why is my success rate low?")

`stats_codes_daily` counts failed messages per China send day, signature, template,
carrier, reporting channel and code, kept with `stats_daily` in the transactions that
change message status. Not backfilled: days before this revision show their success rates
(from `stats_daily`) without codes.

Revision ID: 0028_stats_codes_daily
Revises: 0027_send_tasks
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0028_stats_codes_daily'
down_revision: str | None = '0027_send_tasks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'stats_codes_daily',
        sa.Column('account_id', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.String(length=8), nullable=False),
        sa.Column('sign_name', sa.String(length=64), nullable=False),
        sa.Column('template_code', sa.String(length=32), nullable=False),
        sa.Column('carrier', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('failed', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('account_id', 'day', 'sign_name', 'template_code', 'carrier',
                                'channel', 'code', name=op.f('pk_stats_codes_daily')))


def downgrade() -> None:
    op.drop_table('stats_codes_daily')
