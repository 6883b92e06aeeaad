"""api calls: the API call log (every call of either API, refused ones included)

`api_calls` holds one row per call (its id carries its time): action, account (NULL when the AccessKey is
unknown), key id, request id, HTTP status and code, how many numbers and the first 100,
signature, template, client address, and the BizId of an accepted send.
`api_call_numbers` indexes by number the calls that have no message records (everything but
an accepted send). docs/diagnosis.md "The API call log".

Revision ID: 0029_api_calls
Revises: 0028_stats_codes_daily
Create Date: 2026-12-07 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0029_api_calls'
down_revision: str | None = '0028_stats_codes_daily'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'api_calls',
        sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('action', sa.String(length=96), nullable=False),
        sa.Column('account_id', sa.BigInteger(), nullable=True),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.Column('http_status', sa.SmallInteger(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('number_count', sa.Integer(), nullable=False),
        sa.Column('numbers', sa.Text(), nullable=False),
        sa.Column('sign_name', sa.String(length=64), nullable=False),
        sa.Column('template_code', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('biz_id', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_calls')),
    )
    op.create_index('ix_api_calls_account_id_id', 'api_calls', ['account_id', 'id'])
    op.create_index('ix_api_calls_biz_id', 'api_calls', ['biz_id'],
                    sqlite_where=sa.text('biz_id IS NOT NULL'),
                    postgresql_where=sa.text('biz_id IS NOT NULL'))
    op.create_table(
        'api_call_numbers',
        sa.Column('call_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('position', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('call_id', 'position', name=op.f('pk_api_call_numbers')),
    )
    op.create_index('ix_api_call_numbers_phone_call_id', 'api_call_numbers',
                    ['phone', 'call_id'])


def downgrade() -> None:
    op.drop_index('ix_api_call_numbers_phone_call_id', table_name='api_call_numbers')
    op.drop_table('api_call_numbers')
    for name in ('ix_api_calls_biz_id', 'ix_api_calls_account_id_id'):
        op.drop_index(name, table_name='api_calls')
    op.drop_table('api_calls')
