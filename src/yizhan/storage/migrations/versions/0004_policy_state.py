"""policy state: balances, packages, test numbers, opt-outs, blacklist

Revision ID: 0004_policy_state
Revises: 0002
Create Date: 2026-11-25 19:26:02.662794
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0004_policy_state'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('blacklist',
    sa.Column('phone', sa.String(length=24), nullable=False),
    sa.Column('signatures', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('created_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('removed_at', yizhan.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_blacklist'))
    )
    with op.batch_alter_table('blacklist', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blacklist_version'), ['version'], unique=False)

    op.create_table('list_versions',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_list_versions'))
    )
    op.create_table('opt_outs',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sign_name', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=24), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('created_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_opt_outs_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'sign_name', 'phone', name=op.f('pk_opt_outs'))
    )
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opt_outs_version'), ['version'], unique=False)

    op.create_table('packages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('parts_left', sa.Integer(), nullable=False),
    sa.Column('expires_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('created_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_packages_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_packages'))
    )
    with op.batch_alter_table('packages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_packages_account_id'), ['account_id'], unique=False)

    op.create_table('test_numbers',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('phone', sa.String(length=24), nullable=False),
    sa.Column('created_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_test_numbers_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'phone', name=op.f('pk_test_numbers'))
    )
    op.create_table('topups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_topups_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topups'))
    )
    with op.batch_alter_table('topups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_topups_account_id'), ['account_id'], unique=False)

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('balance', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('part_price', sa.Integer(), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('part_price', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('charge', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('package_parts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('charged_at', yizhan.storage.tables.UTCDateTime(), nullable=True))

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_column('test')

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('test')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('charged_at')
        batch_op.drop_column('package_parts')
        batch_op.drop_column('charge')
        batch_op.drop_column('part_price')

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('part_price')
        batch_op.drop_column('balance')

    with op.batch_alter_table('topups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_topups_account_id'))

    op.drop_table('topups')
    op.drop_table('test_numbers')
    with op.batch_alter_table('packages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_packages_account_id'))

    op.drop_table('packages')
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opt_outs_version'))

    op.drop_table('opt_outs')
    op.drop_table('list_versions')
    with op.batch_alter_table('blacklist', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_blacklist_version'))

    op.drop_table('blacklist')
