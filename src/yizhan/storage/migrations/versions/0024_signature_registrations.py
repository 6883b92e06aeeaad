"""signature registrations: carrier real-name registration per signature and sub-port

Revision ID: 0024_signature_registrations
Revises: 0023_signature_letter
Create Date: 2026-12-07 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0024_signature_registrations'
down_revision: str | None = '0023_signature_letter'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('signature_registrations',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('signature_id', ID, nullable=False),
    sa.Column('isp', sa.String(length=8), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('sub_port', sa.String(length=32), nullable=False),
    sa.Column('state', sa.SmallInteger(), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), server_default='', nullable=False),
    sa.Column('qualification_id', ID, nullable=True),
    sa.Column('requested_at', yizhan.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('due_at', yizhan.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('answered_at', yizhan.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('deliveries', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                            name=op.f('fk_signature_registrations_account_id_accounts')),
    sa.ForeignKeyConstraint(['signature_id'], ['signatures.id'],
                            name=op.f('fk_signature_registrations_signature_id_signatures')),
    sa.ForeignKeyConstraint(
        ['qualification_id'], ['qualifications.id'],
        name=op.f('fk_signature_registrations_qualification_id_qualifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_registrations')),
    sa.UniqueConstraint('signature_id', 'channel',
                        name=op.f('uq_signature_registrations_signature_id_channel'))
    )
    op.create_index('ix_signature_registrations_state_due_at', 'signature_registrations',
                    ['state', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_signature_registrations_state_due_at',
                  table_name='signature_registrations')
    op.drop_table('signature_registrations')
