"""qualification documents: uploaded files, and qualification names unique per account

`qualification_documents` records the documents an account uploaded through the upload
endpoint (GetQualificationOssInfo's policy); a key is written once per account.

Qualification names become unique per account at the database level, among the
qualifications not deleted (a partial unique index: a deleted one's name is free again, as
the actions always allowed). Rows from before that repeat a name of the same account (the
actions refused it, so only a race could have left one) keep their oldest row's name; each
later one is renamed `<name>_<id>` before the index is made, so the upgrade never fails.

Revision ID: 0025_qualification_documents
Revises: 0024_signature_registrations
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yizhan.storage.tables

revision: str = '0025_qualification_documents'
down_revision: str | None = '0024_signature_registrations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "state != 'deleted'"


def upgrade() -> None:
    op.create_table('qualification_documents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
              nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('file', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', yizhan.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                            name=op.f('fk_qualification_documents_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qualification_documents')),
    sa.UniqueConstraint('account_id', 'key',
                        name=op.f('uq_qualification_documents_account_id_key'))
    )
    # Later rows repeating a live name of the same account are renamed `<name>_<id>`.
    op.execute(sa.text(
        "UPDATE qualifications SET name = substr(name, 1, 100) || '_' || CAST(id AS VARCHAR(20)) "
        f"WHERE {LIVE} AND EXISTS (SELECT 1 FROM qualifications AS older "
        "WHERE older.account_id = qualifications.account_id "
        f"AND older.name = qualifications.name AND older.{LIVE} AND older.id < qualifications.id)"))
    op.create_index('uq_qualifications_account_id_name', 'qualifications',
                    ['account_id', 'name'], unique=True, sqlite_where=sa.text(LIVE),
                    postgresql_where=sa.text(LIVE))


def downgrade() -> None:
    op.drop_index('uq_qualifications_account_id_name', table_name='qualifications')
    op.drop_table('qualification_documents')
