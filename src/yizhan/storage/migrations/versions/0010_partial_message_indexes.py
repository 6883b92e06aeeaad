"""messages: the receipt and sweeper indexes hold only submitted messages

`ix_messages_channel_remote` (receipts find their message) now leaves out messages without
a remote id, and `ix_messages_waiting_submitted` (the 72-hour sweeper) messages not yet
submitted: accepting a message no longer writes an entry into either (every accepted
message used to add ('', '') to the first and a NULL to the second), and a submit adds
one instead of moving one.

Revision ID: 0010_partial_message_indexes
Revises: 0005_frequency
Create Date: 2026-11-26 01:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0010_partial_message_indexes'
down_revision: str | None = '0005_frequency'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUBMITTED = "remote_id <> ''"
_WAITING = "status = 'waiting'"
_WAITING_SUBMITTED = "status = 'waiting' AND submitted_at IS NOT NULL"


def _where(condition: str | None) -> dict[str, Any]:
    if condition is None:
        return {}
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def _recreate(channel_remote: str | None, waiting: str) -> None:
    op.drop_index("ix_messages_channel_remote", table_name="messages")
    op.drop_index("ix_messages_waiting_submitted", table_name="messages")
    op.create_index("ix_messages_channel_remote", "messages", ["channel", "remote_id"],
                    **_where(channel_remote))
    op.create_index("ix_messages_waiting_submitted", "messages", ["submitted_at"],
                    **_where(waiting))


def upgrade() -> None:
    _recreate(_SUBMITTED, _WAITING_SUBMITTED)


def downgrade() -> None:
    _recreate(None, _WAITING)
