"""The message path in the SQL store: acceptance, the dispatch outbox, submit outcomes,
receipts, uplinks and dead letters.

Rules implemented here (docs/architecture.md, "Decisions"):
- a message and its outbox row are committed in one transaction (`accept`);
- a message is marked `submitting` in the same transaction that claims its outbox row, so a
  message found `submitting` by a later claim was cut off mid-submit: it becomes status
  unknown with the reason recorded and is never submitted again;
- except that a dispatcher starting after a crash first puts back on the outbox the claims
  its submit journal shows never left the process (`requeue_unsent`; dispatch/journal.py):
  the conservative rule above then covers only submits that may have reached the carrier;
- an outbox row leaves the table only when its item is finished, or moves to dead letters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, any_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from yizhan.domain.events import Uplink
from yizhan.domain.model import (
    AccountId,
    BizId,
    DeadLetter,
    DispatchState,
    Message,
    MessageId,
    MessageStatus,
    OptOut,
    SignatureNonce,
    TemplateType,
    UplinkOwner,
)
from yizhan.domain.ports import (
    Accepted,
    Ambiguous,
    Claim,
    ReceiptUpdate,
    Rejected,
    Retryable,
    SubmitOutcome,
    Unsent,
)
from yizhan.domain.priority import DispatchPriority
from yizhan.domain.tasks import TaskChunk
from yizhan.storage import billing, reports
from yizhan.storage.lists import insert_opt_outs
from yizhan.storage.reports import SUBJECT_COLUMNS, Subject, Transition, subject_of, subject_row
from yizhan.storage.sql import (
    STATUSES,
    HotSql,
    chunks,
    hot_sql,
    insert_rows,
    message_of_row,
    message_row,
    read_message,
    run_batch,
)
from yizhan.storage.tables import (
    dead_letters,
    messages,
    outbox,
    push_items,
    receipts,
    send_task_rows,
)
from yizhan.storage.tasks import mark_task_rows

DISPATCH = "dispatch"
OUTBOX_VACUUM_ROWS = 5_000
"""On PostgreSQL the store vacuums the outbox after every this many rows it deleted from it
(`MessagesMixin._outbox_churned`). At 20,000 the claim's index held twice the pages (1.9 MB
against 0.97 MB with 20,000 items waiting) and the claim walked up to 20,000 dead entries
at its head (docs/benchmarks.md "PostgreSQL under churn")."""
log = logging.getLogger(__name__)
INTERRUPTED = ("the process stopped while this message was being submitted; it may or may "
               "not have reached the carrier, so it is not submitted again")
R = TypeVar("R")
OptOutRule = Callable[[Uplink, UplinkOwner], OptOut | None]
"""Which opt-out, if any, an uplink asks of the owner it replied to."""


def _dead_letter(row: Row[Any]) -> DeadLetter:
    return DeadLetter(row.id, row.stage, row.payload, row.error, row.created_at, row.replayed_at)


def _claim(conn: Connection, sql: HotSql, now: datetime, limit: int, until: datetime,
           urgent: bool, journal: Callable[[Sequence[Claim]], None] | None
           ) -> tuple[list[Claim], list[MessageId]]:
    """The claim transaction of `MessagesMixin.claim_dispatch`."""
    at = sql.ts(now)
    items = conn.exec_driver_sql(sql.due_urgent if urgent else sql.due,
                                 (at, at, limit)).all()
    claims: list[Claim] = []
    interrupted: list[MessageId] = []
    changes: list[Transition] = []
    finished: list[tuple[int]] = []
    for item in items:
        state = item[sql.CLAIM_STATE]
        if state == DispatchState.QUEUED.value:
            offset = sql.read_ts(item[-1]) - sql.read_ts(item[-2])  # rank_at - available_at
            message = read_message(item[sql.CLAIM_MESSAGE], sql.read_ts)
            claims.append(Claim(item[0], item[1], message, offset))
            continue
        if state == DispatchState.SUBMITTING.value:
            interrupted.append(item[2])
            m = read_message(item[sql.CLAIM_MESSAGE], sql.read_ts)
            if not m.status.final:
                changes.append(Transition(subject_of(m), m.status.value,
                                          MessageStatus.UNKNOWN.value, "", now))
        finished.append((item[0],))  # message gone or already past submitting
    if interrupted:
        conn.exec_driver_sql(sql.interrupted, [
            (MessageStatus.UNKNOWN.value, DispatchState.DONE.value, INTERRUPTED, message_id)
            for message_id in interrupted])
        reports.record(conn, sql, changes, now)
    if finished:
        run_batch(conn, sql.finished, finished)
    if claims:
        lease = sql.ts(until)
        run_batch(conn, sql.lease, [(lease, c.outbox_id) for c in claims])
        run_batch(conn, sql.submitting, [(DispatchState.SUBMITTING.value, c.message.id)
                                              for c in claims])
        if journal is not None:
            journal(claims)  # before the commit: no crash can leave a claim unjournaled
    return claims, interrupted


def _extend(conn: Connection, items: Sequence[tuple[int, int]], until: datetime) -> None:
    conn.execute(update(outbox).where(outbox.c.id == bindparam("b_id"),
                                      outbox.c.attempts == bindparam("b_attempts"),
                                      outbox.c.claimed_until.is_not(None))
                 .values(claimed_until=until),
                 [{"b_id": i, "b_attempts": a} for i, a in items])


def _requeue(conn: Connection, unsent: Sequence[Unsent]) -> list[MessageId]:
    """The transaction of `MessagesMixin.requeue_unsent`."""
    requeued: list[MessageId] = []
    for u in unsent:
        # The outbox row first: on PostgreSQL that locks it, so a dispatcher resolving it as
        # interrupted (its lease expired) either went first, and the row is gone, or skips it.
        # Same attempts: the row is still the journaled claim, not a later one.
        lease = conn.execute(update(outbox).where(
            outbox.c.id == u.outbox_id, outbox.c.message_id == u.message_id,
            outbox.c.attempts == u.attempts).values(claimed_until=None))
        if not lease.rowcount:
            continue
        state = conn.execute(update(messages).where(
            messages.c.id == u.message_id,
            messages.c.dispatch_state == DispatchState.SUBMITTING,
        ).values(dispatch_state=DispatchState.QUEUED))
        if state.rowcount:
            requeued.append(MessageId(u.message_id))
    return requeued


def _page(conn: Connection, conditions: Sequence[Any], order: Sequence[Any], offset: int,
          limit: int, count_limit: int | None = None) -> tuple[int, list[Message]]:
    """The messages matching `conditions` in `order`, one page, with their total; with
    `count_limit`, counting stops past it (the total is then `count_limit + 1`)."""
    if count_limit is None:
        counted = select(func.count()).select_from(messages).where(*conditions)
    else:  # reads no more than count_limit + 1 of the matching rows
        counted = select(func.count()).select_from(
            select(messages.c.id).where(*conditions).limit(count_limit + 1).subquery())
    total = int(conn.scalar(counted) or 0)
    rows = conn.execute(select(messages).where(*conditions).order_by(*order).offset(offset)
                        .limit(limit)).all() if total else []
    return total, [message_of_row(r) for r in rows]


def _match_late(conn: Connection, limit: int, now: datetime) -> int:
    """The transaction of `MessagesMixin.match_late_receipts`."""
    # Receipts given up as matching nothing (storage/unmatched.py) are not read again.
    pending = conn.execute(select(receipts).where(receipts.c.message_id.is_(None),
                                                  receipts.c.unmatched_at.is_(None))
                           .order_by(receipts.c.id).limit(limit)).all()
    if not pending:
        return 0
    sql = hot_sql(conn.dialect.name == "postgresql")
    targets = _find_targets(conn, pending)
    matched = [(r, targets[(r.channel, r.remote_id)]) for r in pending
               if (r.channel, r.remote_id) in targets]
    if matched:
        conn.execute(update(receipts).where(receipts.c.id == bindparam("b_rid"))
                     .values(message_id=bindparam("b_id")),
                     [{"b_rid": r.id, "b_id": t.id} for r, t in matched])
        settle(conn, sql, [(STATUSES[r.status], r.error_code, sql.ts(r.done_at), t,
                             r.done_at) for r, t in matched], now)
    return len(matched)


def _bill_at_submit(conn: Connection, sql: HotSql, sent: Sequence[Message],
                    now: datetime) -> None:
    """Bill international messages the channel accepted, in the transaction recording the
    acceptance; a message already billed (an outcome recorded twice) is skipped."""
    query = select(messages.c.id).where(messages.c.id.in_([m.id for m in sent]),
                                        messages.c.charged_at.is_(None)).order_by(messages.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    unbilled = set(conn.execute(query).scalars())
    bills = billing.allocate(conn, [m for m in sent if m.id in unbilled], now)
    if bills:
        at = sql.ts(now)
        conn.exec_driver_sql(sql.bill, [(b.charge, b.package_parts, at, message_id)
                                        for message_id, b in bills.items()])


def targets_query(sql: HotSql, channel: str,
                  remote_ids: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """Statement and parameters finding the messages of some remote ids of a channel, as
    `Subject`s (`SUBJECT_COLUMNS`). On PostgreSQL the rows are locked, in id order: a
    second stage applying a duplicate of the same receipt waits, then sees the message no
    longer waiting, so it is never billed twice."""
    # `remote_id <> ''` lets both databases use the partial index of submitted messages.
    head = (f"SELECT {SUBJECT_COLUMNS} FROM messages "
            "WHERE remote_id <> '' AND channel = ")
    if sql.postgres:
        return (head + "$1 AND remote_id = ANY($2) ORDER BY id FOR UPDATE",
                (channel, list(remote_ids)))
    marks = ", ".join("?" * len(remote_ids))
    return head + f"? AND remote_id IN ({marks})", (channel, *remote_ids)


def settle(conn: Connection, sql: HotSql,
            items: Sequence[tuple[MessageStatus, str, Any, Subject, datetime]],
            now: datetime, settles: MessageStatus = MessageStatus.WAITING) -> None:
    """Apply receipts (status, error code, done-at as the driver wants it, target, done-at)
    to the messages still waiting (or in the status `settles`), the first receipt of each
    message winning; bill the successful domestic ones in the same statement
    (storage/billing.py) and record the status changes for push and statistics
    (storage/reports.py)."""
    seen: set[int] = set()
    applied: list[list[Any]] = []
    billable: list[billing.Billable] = []
    changes: list[Transition] = []
    for status, error_code, done_at, target, when in items:
        if target.status != settles.value or target.id in seen:
            continue
        seen.add(target.id)
        changes.append(Transition(target, target.status, status.value,
                                  error_code, when))
        applied.append([status.value, error_code, done_at, DispatchState.DONE.value, 0, 0,
                        None, target.id, settles.value])
        if status is MessageStatus.SUCCESS and target.phone.startswith(billing.DOMESTIC_PREFIX):
            billable.append(target)
    bills = billing.allocate(conn, billable, now)
    if bills:
        charged_at = sql.ts(now)
        for row in applied:
            bill = bills.get(row[7])
            if bill is not None:
                row[4:7] = bill.charge, bill.package_parts, charged_at
    if applied:
        run_batch(conn, sql.apply_receipt, [tuple(row) for row in applied])
    reports.record(conn, sql, changes, now)


def _find_targets(conn: Connection, items: Sequence[Any]) -> dict[tuple[str, str], Subject]:
    """Messages by (channel, remote id) of receipts (anything with those attributes)."""
    sql = hot_sql(conn.dialect.name == "postgresql")
    by_channel: dict[str, list[str]] = {}
    for item in items:
        by_channel.setdefault(item.channel, []).append(item.remote_id)
    found: dict[tuple[str, str], Subject] = {}
    for channel, remote_ids in by_channel.items():
        for chunk in chunks(remote_ids):
            rows = conn.exec_driver_sql(*targets_query(sql, channel, chunk))
            for row in rows:
                target = subject_row(row, sql.read_ts)
                found[channel, target.remote_id] = target
    return found


class MessagesMixin:
    is_postgres: bool
    engine: AsyncEngine
    outbox_vacuum_rows = OUTBOX_VACUUM_ROWS
    _outbox_deleted = 0
    _outbox_vacuum: asyncio.Task[None] | None = None
    # NoncesMixin's: nonces committed with the messages of the request they signed.
    _nonce_purge_due: Callable[[datetime], bool]
    _remember: Callable[[Connection, list[tuple[str, str]], datetime, bool],
                        set[tuple[str, str]]]

    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    dispatch_priority = DispatchPriority()
    """The dispatch order of accepted messages (`app.py` sets it from the settings)."""

    async def _transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def _urgent_transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def _feeding_transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def _read_in_thread(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    # Acceptance

    async def accept(self, batch: Sequence[Message | SignatureNonce | TaskChunk],
                     also: Callable[[Connection], None] | None = None) -> list[bool | None]:
        """Commit messages and their dispatch outbox rows together (one transaction);
        `also` writes more in the same transaction (the frequency counters).

        The batch may carry signature nonces (`SignatureNonce`), recorded in the same
        transaction: the result for a nonce is whether it was new, and the messages of a
        request whose nonce is a replay are not written. It may carry send-task chunks
        (`TaskChunk`, `storage/tasks.py`): their rows are marked with their messages, and
        only the messages of rows still pending of a running task are written; the result
        for a chunk is whether they were. Messages answer None.
        """
        if not batch and also is None:
            return []
        nonces = [item for item in batch if isinstance(item, SignatureNonce)]
        if nonces:
            now = max(m.created_at for m in batch if isinstance(m, Message))
            fresh, written = await self._urgent_transaction(
                self._accept_with_nonces, batch, nonces, now, self._nonce_purge_due(now), also)
        else:
            # A send task's chunk alone is awaited by no caller: it waits for the codes
            # accepted and claimed meanwhile, not for outcomes (store.Turn.FEED).
            commit = (self._feeding_transaction if _tasks_only(batch)
                      else self._urgent_transaction)
            fresh, written = set(), await commit(self._accept_rows, batch, also)
            if not written:  # the usual commit: API requests only, every item a message
                return [None] * len(batch)
        return [item in fresh if isinstance(item, SignatureNonce)
                else item in written if isinstance(item, TaskChunk) else None
                for item in batch]

    def _accept_with_nonces(self, conn: Connection,
                            batch: Sequence[Message | SignatureNonce | TaskChunk],
                            nonces: list[SignatureNonce], now: datetime, purge: bool,
                            also: Callable[[Connection], None] | None,
                            ) -> tuple[set[SignatureNonce], set[TaskChunk]]:
        pairs = [(n.access_key_id, n.nonce) for n in nonces]
        new_pairs = self._remember(conn, list(dict.fromkeys(pairs)), now, purge)
        fresh: set[SignatureNonce] = set()
        for item in nonces:  # a pair twice in one batch: only the first is new
            pair = (item.access_key_id, item.nonce)
            if pair in new_pairs:
                new_pairs.discard(pair)
                fresh.add(item)
        replayed = {n.biz_id for n in nonces if n not in fresh}
        written = self._accept_rows(conn, [m for m in batch if not isinstance(m, Message)
                                           or m.biz_id not in replayed], also)
        return fresh, written

    def _accept_rows(self, conn: Connection,
                     batch: Sequence[Message | SignatureNonce | TaskChunk],
                     also: Callable[[Connection], None] | None = None) -> set[TaskChunk]:
        sql = hot_sql(self.is_postgres)
        accepted = [m for m in batch if isinstance(m, Message)]
        chunks = [c for c in batch if isinstance(c, TaskChunk)]
        written: set[TaskChunk] = set()
        bulk: set[BizId] = set()
        if chunks:  # send tasks: only the messages of the rows marked now (storage/tasks.py)
            kept = mark_task_rows(conn, chunks)
            # A chunk counts as written when any of its rows was marked (two feeders racing
            # share a chunk: the rows the other marked are not written here).
            written = {c for c in chunks if not kept.isdisjoint(c.message_ids)}
            dropped = {i for c in chunks for i in c.message_ids} - kept
            accepted = [m for m in accepted if m.id not in dropped]
            bulk = {m.biz_id for m in accepted if m.id in kept}
        # Requests of one commit share few instants: convert each once.
        times = {at: sql.ts(at) for at in {m.created_at for m in accepted}}
        queued_state = DispatchState.QUEUED
        rows = [message_row(m, sql.ts, times) for m in accepted]
        queued = [(DISPATCH, m.id, times[m.created_at], sql.ts(m.created_at + offset))
                  for m, offset in self._rank_offsets(accepted, bulk)
                  if m.dispatch_state is queued_state]
        insert_rows(conn, self.is_postgres, *sql.insert_message, rows)
        insert_rows(conn, self.is_postgres, *sql.insert_outbox, queued)
        reports.record_accepted(conn, sql, accepted)
        if also is not None:
            also(conn)
        return written

    def _rank_offsets(self, accepted: Sequence[Message],
                      bulk: set[BizId] | frozenset[BizId] = frozenset(),
                      ) -> list[tuple[Message, timedelta]]:
        """Each message with its rank offset (domain/priority.py). A request's messages are
        always committed together, so its size is the count of its BizId in the batch; a
        send task's chunk (`bulk`) is bulk whatever its size."""
        sizes = Counter(m.biz_id for m in accepted)
        for biz_id in bulk:
            sizes[biz_id] = self.dispatch_priority.bulk_numbers + 1
        offsets: dict[tuple[TemplateType, int], timedelta] = {}
        ranked = []
        for m in accepted:
            key = (m.template_type, sizes[m.biz_id])
            offset = offsets.get(key)
            if offset is None:
                offset = offsets[key] = self.dispatch_priority.offset(*key)
            ranked.append((m, offset))
        return ranked

    # Queries

    async def message(self, account_id: AccountId, message_id: int) -> Message | None:
        async with self._read() as conn:
            row = (await conn.execute(select(messages).where(
                messages.c.id == message_id, messages.c.account_id == account_id))).first()
        return message_of_row(row) if row else None

    async def messages_by_biz(self, account_id: AccountId, biz_id: str) -> list[Message]:
        async with self._read() as conn:
            rows = (await conn.execute(select(messages).where(
                messages.c.biz_id == biz_id, messages.c.account_id == account_id)
                .order_by(messages.c.id))).all()
        return [message_of_row(r) for r in rows]

    async def biz_page(self, account_id: AccountId, biz_id: str, offset: int,
                       limit: int) -> tuple[int, list[Message]]:
        """One page of the messages of a send request, in number order, with their total:
        only the page is read (`ix_messages_biz_id`), however large the request."""
        conditions = (messages.c.biz_id == biz_id, messages.c.account_id == account_id)
        return await self._read_in_thread(
            _page, conditions, (messages.c.id,), offset, limit)

    async def query_messages(self, account_id: AccountId | None, phone: str | None,
                             start: datetime, end: datetime, offset: int = 0,
                             limit: int = 50, biz_id: str | None = None, *,
                             status: MessageStatus | None = None,
                             sign_name: str | None = None, template_code: str | None = None,
                             task_id: int | None = None, count_limit: int | None = None,
                             ) -> tuple[int, list[Message]]:
        """Records created in [start, end), newest first, with the total before paging;
        only those of one send request with `biz_id`, of a status, a signature, a
        template, or sent by one send task (the console's filters). With `count_limit`
        the total is counted up to it only: `count_limit + 1` means "more".

        An account's period is a range of `ix_messages_account_created` (of
        `ix_messages_account_phone_created` for one number), read newest first without a
        sort: a page costs its offset and limit, the filters the rows read until the page
        is full, and the total the rows of the period (or `count_limit` of them)."""
        conditions = [messages.c.created_at >= start, messages.c.created_at < end]
        if account_id is not None:
            conditions.append(messages.c.account_id == account_id)
        if phone is not None:
            conditions.append(messages.c.phone == phone)
        if biz_id is not None:
            conditions.append(messages.c.biz_id == biz_id)
        if status is not None:
            conditions.append(messages.c.status == status.value)
        if sign_name is not None:
            conditions.append(messages.c.sign_name == sign_name)
        if template_code is not None:
            conditions.append(messages.c.template_code == template_code)
        if task_id is not None:
            ids = select(send_task_rows.c.message_id).where(
                send_task_rows.c.task_id == task_id, send_task_rows.c.message_id.is_not(None))
            # PostgreSQL plans `id IN (task's ids)` as a merge with a walk of the primary key
            # over every record (it takes a task for a few hundred of its day's messages);
            # `id = ANY(ARRAY(...))` reads the task's ids first, then those messages.
            conditions.append(messages.c.id == any_(func.array(ids.scalar_subquery()))
                              if self.is_postgres else messages.c.id.in_(ids))
        return await self._read_in_thread(
            _page, conditions, (messages.c.created_at.desc(), messages.c.id.desc()), offset,
            limit, count_limit)

    # Dispatch

    async def pending_dispatch(self) -> int:
        async with self._read() as conn:
            count = await conn.scalar(select(func.count()).select_from(outbox)
                                      .where(outbox.c.topic == DISPATCH))
        return int(count or 0)

    async def outbox_progress(self) -> tuple[int, int]:
        """(items waiting for dispatch, the highest outbox id ever given): backpressure
        reads the delivery rate from how both move (policy/backpressure.py)."""
        async with self._read() as conn:
            waiting = await conn.scalar(select(func.count()).select_from(outbox)
                                        .where(outbox.c.topic == DISPATCH))
            last = await conn.scalar(select(func.max(outbox.c.id)))
        return int(waiting or 0), int(last or 0)

    async def release_claims(self) -> None:
        """Forget every lease: only for a process that is the sole dispatcher (embedded)."""
        async with self._write() as conn:
            await conn.execute(update(outbox).values(claimed_until=None))

    async def extend_claims(self, claims: Sequence[Claim], until: datetime) -> None:
        """Push the lease of a round's claims on to `until` while the round runs: a round
        longer than the lease keeps its items (the rows resolved or requeued meanwhile,
        lease released, are left alone)."""
        if claims:
            await self._transaction(_extend, [(c.outbox_id, c.attempts) for c in claims],
                                    until)

    async def requeue_unsent(self, unsent: Sequence[Unsent]) -> list[MessageId]:
        """Put claims of a crashed round that never left the process back on the outbox
        (queued, lease released), each only while its outbox row is still that claim and
        its message `submitting`; returns the ids of the messages requeued."""
        if not unsent:
            return []
        return await self._transaction(_requeue, list(unsent))

    async def claim_dispatch(self, now: datetime, limit: int, lease: timedelta,
                             urgent: bool = False,
                             journal: Callable[[Sequence[Claim]], None] | None = None
                             ) -> tuple[list[Claim], list[MessageId]]:
        """Claim up to `limit` due outbox items and mark their messages `submitting`;
        `urgent` (the express worker's claim): only items whose rank time has come, so
        verification codes and items that aged past their class's offset. `journal` gets
        the claims inside the transaction, before it commits (the submit journal's
        `claimed`: a crash right after the commit must find them journaled, or the whole
        round would become unknown; a claim journaled but rolled back is harmless,
        `requeue_unsent` checks that the claim is still there).

        Returns the claims and the ids of interrupted messages resolved to unknown. On
        SQLite the claim takes the writer before waiting receipt, submit-outcome and push
        transactions (`Turn.FEED`; the express worker's an urgent turn, as acceptance
        does): a verification code accepted behind a running send task waits for the
        transaction under way, not for the receipts of the task's earlier messages nor for
        the bulk claims (docs/architecture.md "Dispatch order").
        """
        return await (self._urgent_transaction if urgent else self._feeding_transaction)(
            _claim, hot_sql(self.is_postgres), now, limit, now + lease, urgent, journal)

    async def finish_submits(self, outcomes: Sequence[SubmitOutcome], now: datetime,
                             urgent: bool = False) -> None:
        """Record a round's outcomes; `urgent` (the express worker's few codes): on SQLite
        before waiting receipt and push transactions, as its claim, so that the express
        worker is free for the next code at once."""
        accepted: list[tuple[Any, ...]] = []
        rejected, retry, dead, unknown = [], [], [], []
        sql = hot_sql(self.is_postgres)
        at = sql.ts(now)
        for o in outcomes:
            m, r = o.claim.message, o.result
            if isinstance(r, Accepted):
                accepted.append((DispatchState.SUBMITTED.value, o.channel, r.remote_id,
                                 at if o.at is None else sql.ts(o.at), o.route, m.id))
            elif isinstance(r, Rejected):
                rejected.append({"b_id": m.id, "b_channel": o.channel, "b_code": r.code,
                                 "b_reason": r.reason, "b_route": o.route, "b_at": o.at or now})
            elif isinstance(r, Ambiguous):
                unknown.append({"b_id": m.id, "b_channel": o.channel, "b_reason": r.reason,
                                "b_route": o.route, "b_at": o.at or now})
            elif isinstance(r, Retryable) and not o.dead:
                due = now + timedelta(seconds=r.after)  # keeping its class's offset
                retry.append({"b_outbox": o.claim.outbox_id, "b_attempts": o.claim.attempts + 1,
                              "b_at": due, "b_rank": due + o.claim.rank_offset,
                              "b_error": o.route or r.reason, "b_id": m.id})
            else:
                dead.append(o)
        done = [o.claim.outbox_id for o in outcomes if not isinstance(o.result, Retryable)
                or o.dead]
        abroad = [o.claim.message for o in outcomes if isinstance(o.result, Accepted)
                  and not o.claim.message.phone.startswith(billing.DOMESTIC_PREFIX)]
        changes = [Transition(subject_of(o.claim.message)._replace(channel=o.channel),
                              o.claim.message.status.value,
                              (MessageStatus.FAILED if isinstance(o.result, Rejected)
                               else MessageStatus.UNKNOWN).value,
                              getattr(o.result, "code", ""), now)
                   for o in outcomes if isinstance(o.result, Rejected | Ambiguous)
                   and not o.claim.message.status.final]

        def transaction(conn: Connection) -> None:
            if accepted:
                run_batch(conn, sql.submitted, accepted)
            if abroad:
                _bill_at_submit(conn, sql, abroad, now)
            if rejected:
                conn.execute(update(messages).where(messages.c.id == bindparam("b_id"))
                             .values(dispatch_state=DispatchState.DONE,
                                     status=MessageStatus.FAILED, channel=bindparam("b_channel"),
                                     error_code=bindparam("b_code"),
                                     reason=bindparam("b_reason"),
                                     submitted_at=bindparam("b_at"), receipt_at=now,
                                     route=bindparam("b_route")), rejected)
            if unknown:
                conn.execute(update(messages).where(messages.c.id == bindparam("b_id"))
                             .values(dispatch_state=DispatchState.DONE,
                                     status=MessageStatus.UNKNOWN, channel=bindparam("b_channel"),
                                     reason=bindparam("b_reason"),
                                     submitted_at=bindparam("b_at"),
                                     route=bindparam("b_route")), unknown)
            if retry:
                conn.execute(update(outbox).where(outbox.c.id == bindparam("b_outbox"))
                             .values(attempts=bindparam("b_attempts"),
                                     available_at=bindparam("b_at"),
                                     rank_at=bindparam("b_rank"), claimed_until=None,
                                     last_error=bindparam("b_error")), retry)
            requeue = [r["b_id"] for r in retry] + [o.claim.message.id for o in dead]
            if requeue:
                conn.execute(update(messages).where(messages.c.id.in_(requeue))
                             .values(dispatch_state=DispatchState.QUEUED))
            if dead:
                conn.execute(insert(dead_letters), [{
                    "stage": DISPATCH, "created_at": now,
                    "payload": {"topic": DISPATCH, "message_id": o.claim.message.id,
                                "attempts": o.claim.attempts + 1},
                    "error": getattr(o.result, "reason", "")} for o in dead])
            if done:
                run_batch(conn, sql.finished, [(outbox_id,) for outbox_id in done])
            reports.record(conn, sql, changes, now)

        await (self._urgent_transaction if urgent else self._transaction)(transaction)
        self._outbox_churned(len(done))

    def _outbox_churned(self, deleted: int) -> None:
        """Count the outbox rows this process deleted; on PostgreSQL, after every
        `outbox_vacuum_rows` of them, vacuum and analyze the outbox in the background.

        A queue table's deleted rows stay in its index until a vacuum removes them, at the
        head of the claim's walk: without one the claim reads past every item ever
        dispatched, and without statistics the planner misjudges the table. Autovacuum
        (per-table settings: migration 0033) visits a table at most once a minute and may be
        off; a vacuum of the outbox costs what its live rows cost, not what passed through
        it (docs/architecture.md "PostgreSQL under churn"). One at a time per process; another
        process's vacuum under way is skipped, not waited for."""
        if not self.is_postgres or not deleted:
            return
        self._outbox_deleted += deleted
        running = self._outbox_vacuum is not None and not self._outbox_vacuum.done()
        if self._outbox_deleted < self.outbox_vacuum_rows or running:
            return
        self._outbox_deleted = 0
        self._outbox_vacuum = asyncio.get_running_loop().create_task(self._vacuum_outbox())

    async def _vacuum_outbox(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("VACUUM (ANALYZE, SKIP_LOCKED) outbox")
        except Exception:  # the next one tries again; autovacuum may do it meanwhile
            log.exception("vacuuming the outbox failed")

    async def outbox_vacuumed(self) -> None:
        """Wait until the outbox's vacuum under way, if any, has finished."""
        if self._outbox_vacuum is not None:
            await self._outbox_vacuum

    # Receipts and uplinks

    async def store_receipts(self, updates: Sequence[ReceiptUpdate], now: datetime) -> int:
        """Store receipts and apply them to their messages; returns how many matched.

        A receipt whose message is not known yet (it can overtake the submit's own commit)
        is stored unmatched and applied later by `match_late_receipts`.
        """
        sql = hot_sql(self.is_postgres)
        received = sql.ts(now)
        def transaction(conn: Connection) -> int:
            targets = _find_targets(conn, [u.receipt for u in updates])
            rows: list[tuple[Any, ...]] = []
            matched: list[tuple[MessageStatus, str, Any, Subject, datetime]] = []
            times: dict[datetime | None, Any] = {None: None}
            for u in updates:
                r = u.receipt
                target = targets.get((r.channel, r.remote_id))
                done_at = times.get(r.done_at)
                if done_at is None:  # a channel's batch of receipts shares its instant
                    done_at = times[r.done_at] = sql.ts(r.done_at)
                submitted_at = times.get(r.submitted_at)
                if submitted_at is None and r.submitted_at is not None:  # and a few minutes
                    submitted_at = times[r.submitted_at] = sql.ts(r.submitted_at)
                rows.append((target and target.id, r.channel, r.remote_id, r.code,
                             u.status.value, u.error_code, r.raw, done_at, received, r.phone,
                             submitted_at))
                if target is not None:
                    matched.append((u.status, u.error_code, done_at, target, r.done_at))
            insert_rows(conn, sql.postgres, *sql.insert_receipt, rows)
            settle(conn, sql, matched, now)
            return len(matched)

        return await self._transaction(transaction)

    async def match_late_receipts(self, now: datetime, limit: int = 1000) -> int:
        """Apply receipts stored before their message's submit was (billing at `now`)."""
        return await self._transaction(_match_late, limit, now)

    async def store_uplinks(self, items: Sequence[Uplink], now: datetime | None = None,
                            opt_out: OptOutRule | None = None) -> None:
        """Store uplinks, each attributed to an account and signature, with their SmsUp push
        items. `opt_out` is the receipt stage's rule (receipts/uplinks.py): asked of each
        uplink that found its owner, it answers the opt-out the reply asks for, if any,
        which the store writes in the same transaction (docs/channels.md)."""
        sql = hot_sql(self.is_postgres)

        def transaction(conn: Connection) -> None:
            owners = reports.uplink_owners(conn, sql, items)
            stops: list[OptOut] = []
            for n, u in enumerate(items):
                owner = reports.store_uplink(conn, sql, owners.get(n), u,
                                             now or u.received_at)
                decided = opt_out(u, owner) if owner is not None and opt_out else None
                if decided is not None:
                    stops.append(decided)
            if stops:
                insert_opt_outs(conn, stops)

        await self._transaction(transaction)

    # Dead letters

    async def list_dead_letters(self, include_replayed: bool = False,
                                limit: int | None = None) -> list[DeadLetter]:
        """Oldest first; at most `limit` (None: all)."""
        query = select(dead_letters).order_by(dead_letters.c.id).limit(limit)
        if not include_replayed:
            query = query.where(dead_letters.c.replayed_at.is_(None))
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [_dead_letter(r) for r in rows]

    async def dead_letter(self, letter_id: int) -> DeadLetter | None:
        async with self._read() as conn:
            row = (await conn.execute(select(dead_letters).where(
                dead_letters.c.id == letter_id))).first()
        return _dead_letter(row) if row else None

    async def replay_dead_letter(self, letter_id: int, now: datetime) -> DeadLetter | None:
        """Put a dead letter's item back on its stage's outbox; None if unknown or replayed."""
        async with self._write() as conn:
            row = (await conn.execute(select(dead_letters).where(
                dead_letters.c.id == letter_id, dead_letters.c.replayed_at.is_(None)))).first()
            if row is None:
                return None
            payload = row.payload
            if payload["topic"] == "push":  # a push item: back on the push outbox, afresh
                item = payload["item"]
                await conn.execute(insert(push_items).values(
                    account_id=item["account_id"], topic=item["topic"],
                    message_id=item["message_id"], payload=item["payload"], attempts=0,
                    created_at=now, available_at=now, last_error=""))
            else:
                await conn.execute(insert(outbox).values(
                    topic=payload["topic"], message_id=payload["message_id"], attempts=0,
                    available_at=now, rank_at=now, last_error=""))
            await conn.execute(update(dead_letters).where(dead_letters.c.id == letter_id)
                               .values(replayed_at=now))
        return _dead_letter(row)


def _tasks_only(batch: Sequence[Message | SignatureNonce | TaskChunk]) -> bool:
    """Whether every message of an acceptance batch comes from a send task's chunk."""
    chunks = [c for c in batch if isinstance(c, TaskChunk)]
    if not chunks:
        return False
    ids = {i for c in chunks for i in c.message_ids}
    return all(m.id in ids for m in batch if isinstance(m, Message))
