"""api call detail: a refused call keeps the message its caller was told

`api_calls` gains `detail`: the answer's message of a refused call (the same text the caller
got, in its language, cut to 512 characters); empty for accepted calls and for the calls
logged before this revision. docs/diagnosis.md "The API call log".

Revision ID: 0030_api_call_detail
Revises: 0029_api_calls
Create Date: 2026-12-07 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0030_api_call_detail'
down_revision: str | None = '0029_api_calls'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detail', sa.String(length=512), server_default='',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.drop_column('detail')
