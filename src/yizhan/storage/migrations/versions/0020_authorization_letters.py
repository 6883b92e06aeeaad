"""authorization_letters: letters of authorization (委托授权书) per account

The fields of the SDK's CreateSmsAuthorizationLetter; names unique per account.

Revision ID: 0020_authorization_letters
Revises: 0019_qualifications
Create Date: 2026-12-07 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0020_authorization_letters'
down_revision: str | None = '0019_qualifications'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('authorization_letters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
              nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('authorizing', sa.String(length=150), nullable=False),
    sa.Column('organization_code', sa.String(length=150), nullable=False),
    sa.Column('authorized', sa.String(length=150), nullable=False),
    sa.Column('signs', sa.Text(), nullable=False),
    sa.Column('valid', sa.String(length=32), nullable=False),
    sa.Column('document', sa.String(length=255), nullable=False),
    sa.Column('created_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                            name=op.f('fk_authorization_letters_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorization_letters')),
    sa.UniqueConstraint('account_id', 'name',
                        name=op.f('uq_authorization_letters_account_id_name'))
    )
    op.create_index(op.f('ix_authorization_letters_account_id'), 'authorization_letters',
                    ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_authorization_letters_account_id'),
                  table_name='authorization_letters')
    op.drop_table('authorization_letters')
