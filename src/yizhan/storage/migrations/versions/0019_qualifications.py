"""qualifications: the SDK's qualification fields, and their audited review

The qualifications table gains the fields of SubmitSmsQualification (company, legal person,
administrator, document references) and the current review ticket; qualification_decisions
records every submission, update and operator decision (who, when, state, reason).

Revision ID: 0019_qualifications
Revises: 0018_process_lease
Create Date: 2026-12-07 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0019_qualifications'
down_revision: str | None = '0018_process_lease'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_COLUMNS = (
    ('company_type', 32), ('company_name', 150), ('organization_code', 150),
    ('license_valid', 32), ('legal_person_name', 50), ('legal_person_id_type', 32),
    ('legal_person_id_no', 64), ('legal_person_id_valid', 32), ('admin_name', 50),
    ('admin_id_type', 32), ('admin_id_no', 64), ('admin_id_valid', 32), ('admin_phone', 32),
)


def upgrade() -> None:
    with op.batch_alter_table('qualifications') as batch:
        batch.add_column(sa.Column('order_id', sa.BigInteger(), server_default='0',
                                   nullable=False))
        for name, length in TEXT_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), server_default='',
                                       nullable=False))
        batch.add_column(sa.Column('share', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.add_column(sa.Column('remark', sa.Text(), server_default='', nullable=False))
        batch.add_column(sa.Column('documents', sa.Text(), server_default='[]',
                                   nullable=False))
        batch.add_column(sa.Column('reviewed_at', yizhan.storage.tables.UTCDateTime(),
                                   nullable=True))
    op.create_table('qualification_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('qualification_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
              nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['qualification_id'], ['qualifications.id'],
                            name=op.f('fk_qualification_decisions_qualification_id_qualifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qualification_decisions'))
    )
    op.create_index(op.f('ix_qualification_decisions_qualification_id'),
                    'qualification_decisions', ['qualification_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_qualification_decisions_qualification_id'),
                  table_name='qualification_decisions')
    op.drop_table('qualification_decisions')
    with op.batch_alter_table('qualifications') as batch:
        for name in ('reviewed_at', 'documents', 'remark', 'share',
                     *(n for n, _ in reversed(TEXT_COLUMNS)), 'order_id'):
            batch.drop_column(name)
