"""signature source and remarks, request nonces

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:19:14.484336
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('nonces',
    sa.Column('access_key_id', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('seen_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('access_key_id', 'nonce', name=op.f('pk_nonces'))
    )
    with op.batch_alter_table('nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nonces_seen_at'), ['seen_at'], unique=False)

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='enterprise', nullable=False))
        batch_op.add_column(sa.Column('remark', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remark', sa.Text(), server_default='', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_column('remark')

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('remark')
        batch_op.drop_column('source')

    with op.batch_alter_table('nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nonces_seen_at'))

    op.drop_table('nonces')
