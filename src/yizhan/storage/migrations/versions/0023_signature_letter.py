"""signature letter: the letter of authorization a signature for others stands on

The signatures table gains `letter_id` (CreateSmsSign and UpdateSmsSign's
AuthorizationLetterId), null for own use.

Revision ID: 0023_signature_letter
Revises: 0022_review_decisions
Create Date: 2026-12-07 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023_signature_letter'
down_revision: str | None = '0022_review_decisions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('letter_id',
                                      sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_signatures_letter_id_authorization_letters'),
            'authorization_letters', ['letter_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_signatures_letter_id_authorization_letters'),
                                 type_='foreignkey')
        batch_op.drop_column('letter_id')
