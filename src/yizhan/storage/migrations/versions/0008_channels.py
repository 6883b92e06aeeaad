"""channels: the router's decision on each message, the signature an uplink replied to

Revision ID: 0008_channels
Revises: 0009_messages_rowid
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_channels'
down_revision: str | None = '0009_messages_rowid'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('route', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('uplinks') as batch:
        batch.add_column(sa.Column('sign_name', sa.String(length=64), server_default='',
                                   nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('uplinks') as batch:
        batch.drop_column('sign_name')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('route')
