"""Receipts that matched no message in time: matched once more, or given up and kept.

A receipt is matched to its message by (channel, remote id) when it is stored, or by the
late matcher when it overtook its submit's commit (`messages._match_late`). One still
unmatched `receipt_unmatched_seconds` after it arrived is settled here, once, in this order:

1. by the same number written in the other base (`domain/remote_ids.py`: a carrier answering
   submits in hex and writing receipts in decimal): the match must be one message, to the
   receipt's handset when the receipt names one;
2. by what the receipt says of its submit: its handset and submit date match exactly one
   message of its channel left `unknown` without a remote id, which is what a lost submit
   answer leaves (a submit timeout or a link lost before the answer: `Ambiguous`). The
   message takes the receipt's status and remote id (a duplicate then matches by id);
3. else it is given up: marked `unmatched_at`, never read by the late matcher again, and
   returned so that the receipt stage logs it and counts it (`yizhan receipts unmatched`
   lists them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import SettledReceipts, UnmatchedReceipt
from yizhan.domain.remote_ids import alternates
from yizhan.storage.messages import settle, targets_query
from yizhan.storage.reports import SUBJECT_COLUMNS, Subject, subject_row
from yizhan.storage.sql import HotSql, chunks, hot_sql
from yizhan.storage.tables import UNANSWERED, messages, receipts

SUBMIT_SLACK = timedelta(minutes=2)
"""How far our submit time may be from the carrier's submit date (written to the minute,
by another clock; our time is when the submit timed out)."""


def _unmatched(row: Row[Any]) -> UnmatchedReceipt:
    return UnmatchedReceipt(row.id, row.channel, row.remote_id, row.code, row.phone,
                            row.submitted_at, row.received_at, row.raw)


def _other_base(conn: Connection, sql: HotSql, rows: Sequence[Row[Any]]
                ) -> dict[int, Subject]:
    """Receipt id -> the one message its id in the other base names."""
    spellings = {row.id: alternates(row.remote_id) for row in rows}
    wanted: dict[str, set[str]] = {}
    for row in rows:
        wanted.setdefault(row.channel, set()).update(spellings[row.id])
    found: dict[tuple[str, str], Subject] = {}
    for channel, ids in wanted.items():
        for chunk in chunks(sorted(ids)):
            for t in conn.exec_driver_sql(*targets_query(sql, channel, chunk)):
                target = subject_row(t, sql.read_ts)
                found[channel, target.remote_id] = target
    matched: dict[int, Subject] = {}
    for row in rows:
        # A receipt that names its handset must name the message's: an id of a few digits
        # is a valid id in both bases, and the other spelling may be another message's (a
        # long message's later part, reported after a restart, say).
        targets = {found[row.channel, a].id: found[row.channel, a]
                   for a in spellings[row.id] if (row.channel, a) in found
                   and (not row.phone or found[row.channel, a].phone == row.phone)}
        if len(targets) == 1:  # `1234` is either base: two messages are no answer
            matched[row.id] = next(iter(targets.values()))
    return matched


def _lost_answers(conn: Connection, sql: HotSql, rows: Sequence[Row[Any]]
                  ) -> dict[int, Subject]:
    """Receipt id -> the one message left unknown by a lost submit answer that its handset
    and submit date name."""
    matched: dict[int, Subject] = {}
    taken: dict[int, tuple[str, Subject]] = {}
    # Driver SQL, as `targets_query` reads a `Subject`.
    query = sql.place(
        f"SELECT {SUBJECT_COLUMNS} FROM messages WHERE channel = ? AND phone = ? "
        f"AND {UNANSWERED} AND submitted_at >= ? AND submitted_at <= ? LIMIT 2")
    for row in rows:
        if not row.phone or row.submitted_at is None:
            continue
        found = conn.exec_driver_sql(query, (
            row.channel, row.phone, sql.ts(row.submitted_at - SUBMIT_SLACK),
            sql.ts(row.submitted_at + SUBMIT_SLACK))).all()
        if len(found) == 1:
            target = subject_row(found[0], sql.read_ts)
            # a duplicate of the receipt that named it goes with it; another id does not
            if all(remote == row.remote_id for remote, t in taken.values()
                   if t.id == target.id):
                matched[row.id] = target
                taken[row.id] = (row.remote_id, target)
    return matched


def _settle_unmatched(conn: Connection, cutoff: datetime, now: datetime,
                      limit: int) -> SettledReceipts:
    """The transaction of `UnmatchedMixin.settle_unmatched_receipts`."""
    rows = conn.execute(select(receipts).where(
        receipts.c.message_id.is_(None), receipts.c.unmatched_at.is_(None),
        receipts.c.received_at < cutoff).order_by(receipts.c.id).limit(limit)).all()
    if not rows:
        return SettledReceipts(0, 0, [])
    sql = hot_sql(conn.dialect.name == "postgresql")
    by_id = _other_base(conn, sql, rows)
    by_handset = _lost_answers(conn, sql, [r for r in rows if r.id not in by_id])
    for found, settles in ((by_id, MessageStatus.WAITING), (by_handset, MessageStatus.UNKNOWN)):
        if not found:
            continue
        items = [r for r in rows if r.id in found]
        conn.execute(update(receipts).where(receipts.c.id == bindparam("b_rid"))
                     .values(message_id=bindparam("b_id")),
                     [{"b_rid": r.id, "b_id": found[r.id].id} for r in items])
        settle(conn, sql, [(MessageStatus(r.status), r.error_code, sql.ts(r.done_at),
                             found[r.id], r.done_at) for r in items], now, settles)
    if by_handset:  # the message now has the id its carrier gave it
        conn.execute(update(messages).where(messages.c.id == bindparam("b_id"))
                     .values(remote_id=bindparam("b_remote")),
                     [{"b_id": found_target.id, "b_remote": r.remote_id}
                      for r in rows if (found_target := by_handset.get(r.id)) is not None])
    given_up = [r for r in rows if r.id not in by_id and r.id not in by_handset]
    if given_up:
        conn.execute(update(receipts).where(receipts.c.id.in_([r.id for r in given_up]))
                     .values(unmatched_at=now))
    return SettledReceipts(len(by_id), len(by_handset), [_unmatched(r) for r in given_up])


class UnmatchedMixin:
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def _transaction(self, work: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError  # SqlStore's

    async def settle_unmatched_receipts(self, cutoff: datetime, now: datetime,
                                        limit: int = 1000) -> SettledReceipts:
        """Settle the receipts that arrived before `cutoff` and still match no message."""
        settled: SettledReceipts = await self._transaction(_settle_unmatched, cutoff, now, limit)
        return settled

    async def unmatched_receipts(self, channel: str | None = None, limit: int = 50
                                 ) -> list[UnmatchedReceipt]:
        """The receipts given up as matching no message, newest first."""
        query = select(receipts).where(receipts.c.message_id.is_(None),
                                       receipts.c.unmatched_at.is_not(None))
        if channel is not None:
            query = query.where(receipts.c.channel == channel)
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(receipts.c.id.desc())
                                       .limit(limit))).all()
        return [_unmatched(r) for r in rows]
