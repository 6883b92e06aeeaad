"""signature details: what CreateSmsSign tells the reviewer, and tenant actions audited

The signatures table gains `apply_scene` (ApplySceneContent), `files` (MoreData, a JSON
array of file references), `app_icp_record_id` (AppIcpRecordId) and `trademark_id`
(TrademarkId). `review_decisions` gains `action`: "review" for an operator's decision (every
row before this revision), or the tenant's own "delete", "resubmit" or
"change_qualification".

Revision ID: 0026_signature_details
Revises: 0025_qualification_documents
Create Date: 2026-12-07 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026_signature_details'
down_revision: str | None = '0025_qualification_documents'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('apply_scene', sa.Text(), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('files', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('app_icp_record_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('trademark_id', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('action', sa.String(length=24), server_default='review',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.drop_column('action')
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        for column in ('trademark_id', 'app_icp_record_id', 'files', 'apply_scene'):
            batch_op.drop_column(column)
