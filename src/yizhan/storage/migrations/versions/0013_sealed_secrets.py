"""secrets sealed under the master key (issue 14 point 2)

`master_key_check` holds a known text sealed under the master key, checked at start; the
secret columns widen for sealed values (`yz1:` + base64url of nonce, ciphertext and tag).
Plaintext rows are sealed by the start that follows (storage/sealed.py): a migration does
not know the key.

Revision ID: 0013_sealed_secrets
Revises: 0012_nonce_log
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0013_sealed_secrets'
down_revision: str | None = '0012_nonce_log'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('master_key_check',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('created_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_master_key_check'))
    )
    for table in ('access_keys', 'push_endpoints'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('secret', existing_type=sa.String(length=64),
                                  type_=sa.String(length=160), existing_nullable=False)


def downgrade() -> None:
    for table in ('access_keys', 'push_endpoints'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('secret', existing_type=sa.String(length=160),
                                  type_=sa.String(length=64), existing_nullable=False)
    op.drop_table('master_key_check')
