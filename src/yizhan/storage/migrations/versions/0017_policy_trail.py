"""messages: the policy trail (the verdict of every rule for the number)

One short text per message (`1:++++...`, policy/trail.py); NULL for the messages accepted
before this revision, which have none.

Revision ID: 0017_policy_trail
Revises: 0016_outbox_rank
Create Date: 2026-12-07 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_policy_trail'
down_revision: str | None = '0016_outbox_rank'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_trail', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('policy_trail')
