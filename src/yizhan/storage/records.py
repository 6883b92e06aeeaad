"""Records over time in the SQL store: the 72-hour sweep, the retention purge, and the
failed numbers of a send request or a period (for export).

- `sweep_waiting`: messages still waiting for a receipt `receipt_wait_hours` after their
  submit become unknown, with statistics and an SmsReport in the same transaction
  (docs/domain.md: "with no receipt after 72 hours the status stays unknown"). A receipt that
  comes later is stored but changes nothing (the receipt UPDATE only touches waiting
  messages).
- `purge_records`: deletes at most `limit` old messages, receipts and uplinks per call, each
  a short transaction, so that sends queue behind it for milliseconds at most. Message ids
  grow with time, so old messages are a primary-key range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.ids import first_id_at
from yizhan.domain.model import AccountId, Message, MessageStatus
from yizhan.storage import reports
from yizhan.storage.sql import hot_sql, message_of_row
from yizhan.storage.tables import messages, receipts, uplinks

R = TypeVar("R")
SWEPT = "no receipt within {hours:g} hours of the submit: the outcome stays unknown"


class RecordsMixin:
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def _transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def sweep_waiting(self, cutoff: datetime, now: datetime, limit: int = 1000,
                            hours: float = 72) -> int:
        """Turn up to `limit` messages submitted before `cutoff` and still waiting into
        unknown; returns how many."""
        return await self._transaction(_sweep, cutoff, now, limit, SWEPT.format(hours=hours))

    async def purge_records(self, cutoff: datetime, limit: int = 1000) -> int:
        """Delete up to `limit` of each kind of record older than `cutoff`; returns how many
        rows went in all (0: nothing older is left)."""
        gone = await self._transaction(_purge_messages, first_id_at(cutoff), limit)
        for table, column in ((receipts, receipts.c.received_at),
                              (uplinks, uplinks.c.received_at)):
            # Oldest rows have the smallest ids: look at the first ones (a read, no lock),
            # then delete those that are old enough in one short write.
            async with self._read() as conn:
                rows = (await conn.execute(select(table.c.id, column)
                                           .order_by(table.c.id).limit(limit))).all()
            old = [row_id for row_id, at in rows if at < cutoff]
            if old:
                gone += await self._transaction(_delete_ids, table, old)
        return gone

    async def failed_messages(self, account_id: AccountId, *, biz_id: str | None = None,
                              start: datetime | None = None, end: datetime | None = None,
                              statuses: Sequence[MessageStatus] = (MessageStatus.FAILED,),
                              limit: int = 500_000) -> list[Message]:
        """Messages of a send request, or accepted in [start, end), with these statuses,
        oldest first."""
        conditions = [messages.c.account_id == account_id,
                      messages.c.status.in_([s.value for s in statuses])]
        if biz_id is not None:
            conditions.append(messages.c.biz_id == biz_id)
        if start is not None:
            conditions.append(messages.c.id >= first_id_at(start))
        if end is not None:
            conditions.append(messages.c.id < first_id_at(end))
        async with self._read() as conn:
            rows = (await conn.execute(select(messages).where(*conditions)
                                       .order_by(messages.c.id).limit(limit))).all()
        return [message_of_row(r) for r in rows]


SWEEP = (f"SELECT {reports.SUBJECT_COLUMNS} FROM messages WHERE status = 'waiting' "
         "AND submitted_at < ? ORDER BY submitted_at LIMIT ?")
"""The sweeper's query. The literal 'waiting' and the comparison on `submitted_at` (which
implies it is not NULL) let both databases use the partial index of submitted messages
still waiting (`ix_messages_waiting_submitted`)."""


def _sweep(conn: Connection, cutoff: datetime, now: datetime, limit: int, reason: str) -> int:
    sql = hot_sql(conn.dialect.name == "postgresql")
    rows = conn.exec_driver_sql(sql.place(
        SWEEP + (" FOR UPDATE SKIP LOCKED" if sql.lock else "")), (sql.ts(cutoff), limit)).all()
    if not rows:
        return 0
    conn.exec_driver_sql(sql.place(
        "UPDATE messages SET status = 'unknown', dispatch_state = 'done', reason = ? "
        "WHERE id = ? AND status = 'waiting'"), [(reason, r[0]) for r in rows])
    # The sweeper's verdict is the platform's, not the channel's: its code is explained by
    # the platform's table (no channel on the subject).
    reports.record(conn, sql, [
        reports.Transition(reports.subject_row(r, sql.read_ts)._replace(channel=""),
                           MessageStatus.WAITING.value, MessageStatus.UNKNOWN.value, "", now)
        for r in rows], now)
    return len(rows)


def _purge_messages(conn: Connection, below_id: int, limit: int) -> int:
    ids = conn.execute(select(messages.c.id).where(messages.c.id < below_id)
                       .order_by(messages.c.id).limit(limit)).scalars().all()
    return _delete_ids(conn, messages, ids) if ids else 0


def _delete_ids(conn: Connection, table: Table, ids: Sequence[int]) -> int:
    conn.execute(delete(table).where(table.c.id.in_(list(ids))))
    return len(ids)
