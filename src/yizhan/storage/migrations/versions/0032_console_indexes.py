"""console indexes: an account's messages by creation time

`ix_messages_account_created` (account_id, created_at) serves the console's send
records (storage/messages.py `query_messages`): the records of a period are a range of it,
newest first, and a page is read without sorting the period; their total is counted in it
too. docs/benchmarks.md "The console's pages over 1,000,000 records".

Revision ID: 0032_console_indexes
Revises: 0031_console_users
Create Date: 2026-12-07 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0032_console_indexes'
down_revision: str | None = '0031_console_users'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_account_created", "messages",
                    ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_account_created", table_name="messages")
