"""the hot tables under churn: indexes the planner cannot misuse, room for HOT updates,
autovacuum per table (PostgreSQL)

Measured on PostgreSQL with a million messages through the store (bench/pg_churn.py,
docs/benchmarks.md "PostgreSQL under churn"):

- receipts looked up their messages through `ix_messages_channel_remote` (channel, remote
  id), and on a table without statistics the planner used only its first column: every
  lookup read every submitted message of the channel and filtered the remote ids (73 ms for
  40,000 messages, growing with the table). `ix_messages_remote_channel` leads with the
  remote id, which the lookup asks for by value: one descent per receipt at any size;
- the claim walked `ix_outbox_topic_rank` (topic, rank time, id) by its first column only
  (every waiting item read and sorted at each claim): the outbox holds dispatch items only,
  so `ix_outbox_rank` is (rank time, id), the claim's own order;
- `ix_receipts_unmatched` holds only the receipts that matched no message (what `yizhan
  receipts unmatched` lists): a receipt matched when stored writes one index entry fewer;
- PostgreSQL only: `fillfactor` leaves room on each page of `messages` and `outbox`, so the
  claim's update of a row (its dispatch state, its lease; no indexed column) stays on its
  page as a HOT update, with no index entry written; and autovacuum settings per table:
  the outbox vacuumed after every few thousand deletions whatever its size, `messages` and
  `receipts` at a small share of their rows (docs/architecture.md, "PostgreSQL under
  churn").

Revision ID: 0033_pg_churn
Revises: 0031_console_users
Create Date: 2026-12-07 18:20:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0033_pg_churn'
down_revision: str | None = '0032_console_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUBMITTED = "remote_id <> ''"
_UNMATCHED = "message_id IS NULL"

STORAGE: dict[str, dict[str, float]] = {
    "messages": {"fillfactor": 60, "autovacuum_vacuum_scale_factor": 0.02,
                 "autovacuum_vacuum_insert_scale_factor": 0.05,
                 "autovacuum_analyze_scale_factor": 0.02},
    "outbox": {"fillfactor": 50, "autovacuum_vacuum_scale_factor": 0,
               "autovacuum_vacuum_threshold": 5000, "autovacuum_vacuum_cost_delay": 0,
               "autovacuum_analyze_scale_factor": 0, "autovacuum_analyze_threshold": 5000},
    "receipts": {"autovacuum_vacuum_insert_scale_factor": 0.05,
                 "autovacuum_analyze_scale_factor": 0.02},
}
"""The storage parameters of the hot tables on PostgreSQL (SQLite has none)."""


def _where(condition: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.drop_index("ix_messages_channel_remote", table_name="messages")
    op.create_index("ix_messages_remote_channel", "messages", ["remote_id", "channel"],
                    **_where(_SUBMITTED))
    op.drop_index("ix_outbox_topic_rank", table_name="outbox")
    op.create_index("ix_outbox_rank", "outbox", ["rank_at", "id"])
    op.drop_index("ix_receipts_unmatched", table_name="receipts")
    op.create_index("ix_receipts_unmatched", "receipts", ["channel", "remote_id"],
                    **_where(_UNMATCHED))
    if op.get_bind().dialect.name == "postgresql":
        for table, options in STORAGE.items():
            settings = ", ".join(f"{name} = {value}" for name, value in options.items())
            op.execute(f"ALTER TABLE {table} SET ({settings})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, options in STORAGE.items():
            op.execute(f"ALTER TABLE {table} RESET ({', '.join(options)})")
    op.drop_index("ix_receipts_unmatched", table_name="receipts")
    op.create_index("ix_receipts_unmatched", "receipts", ["channel", "remote_id"])
    op.drop_index("ix_outbox_rank", table_name="outbox")
    op.create_index("ix_outbox_topic_rank", "outbox", ["topic", "rank_at", "id"])
    op.drop_index("ix_messages_remote_channel", table_name="messages")
    op.create_index("ix_messages_channel_remote", "messages", ["channel", "remote_id"],
                    **_where(_SUBMITTED))
