"""messages.id is SQLite's rowid: one B-tree fewer to write per accepted message

On SQLite a primary key declared BIGINT is a separate unique index beside the table's own
rowid; declared INTEGER it is the rowid itself. Message ids are 63-bit, so they fit. SQLite
cannot change a column's type in place: the table is copied (its indexes dropped first and
made again after). PostgreSQL keeps BIGINT: nothing to do there.

Revision ID: 0009_messages_rowid
Revises: 0003_policy_rules
Create Date: 2026-11-25 20:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0009_messages_rowid'
down_revision: str | None = '0003_policy_rules'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: tuple[tuple[str, list[str], dict[str, Any]], ...] = (
    ("ix_messages_account_phone_created", ["account_id", "phone", "created_at"], {}),
    ("ix_messages_biz_id", ["biz_id"], {}),
    ("ix_messages_channel_remote", ["channel", "remote_id"], {}),
    ("ix_messages_waiting_submitted", ["submitted_at"],
     {"sqlite_where": sa.text("status = 'waiting'")}),
)


def _retype(to: sa.types.TypeEngine[Any]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, _, _ in _INDEXES:
        op.drop_index(name, table_name="messages")
    with op.batch_alter_table("messages", recreate="always") as batch:
        batch.alter_column("id", existing_type=sa.BigInteger(), type_=to,
                           existing_nullable=False, autoincrement=False)
    for name, columns, options in _INDEXES:
        op.create_index(name, "messages", columns, **options)


def upgrade() -> None:
    _retype(sa.Integer())


def downgrade() -> None:
    _retype(sa.BigInteger())
