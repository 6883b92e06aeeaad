"""template fields: what CreateSmsTemplate and UpdateSmsTemplate add for the review

The templates table gains the related signature, the variable attributes (TemplateRule, as
given), the international type, the business scenario and when the operator last decided.

Revision ID: 0021_template_fields
Revises: 0020_authorization_letters
Create Date: 2026-12-07 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0021_template_fields'
down_revision: str | None = '0020_authorization_letters'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('related_sign_name', sa.String(length=64),
                                      server_default='', nullable=False))
        batch_op.add_column(sa.Column('variable_attribute', sa.Text(), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('intl_type', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('apply_scene', sa.Text(), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('reviewed_at', yizhan.storage.tables.UTCDateTime(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('templates', schema=None) as batch_op:
        for name in ('reviewed_at', 'apply_scene', 'intl_type', 'variable_attribute',
                     'related_sign_name'):
            batch_op.drop_column(name)
