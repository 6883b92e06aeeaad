"""Send tasks in the SQL store (docs/tasks.md): the task, its rows, its rejected rows.

A task's rows are written in chunks of `ROWS_PER_TRANSACTION`, each one multi-row INSERT
(`sql.insert_rows`), while the task is `importing`, so that a 500,000-number import never
holds SQLite's writer long enough to delay a verification code; the task becomes a `draft`
when the last chunk is in. A row is marked with its message by `mark_task_rows`, in the
transaction that accepts the message (`storage/messages.py`), and only while it is pending
and its task running: so a cancel, a pause or a second feeder can never send it twice.
Queries take an account id and see that account's tasks only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Row, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import (
    AccountId,
    Message,
    MessageId,
    MessageStatus,
    PhoneNumber,
    Template,
    TemplateType,
)
from yizhan.domain.tasks import (
    Imported,
    ProgressState,
    RejectedRow,
    ResultRow,
    RowState,
    SendTask,
    TaskChunk,
    TaskId,
    TaskRow,
    TaskSpec,
    TaskState,
)
from yizhan.storage.sql import dollar_placeholders, insert_rows, message_of_row
from yizhan.storage.tables import messages, send_task_rejects, send_task_rows, send_tasks

R = TypeVar("R")
ROWS_PER_TRANSACTION = 20_000
_ROW_INSERT = ("INSERT INTO send_task_rows (task_id, seq, line, phone, params, state)",
               "(?, ?, ?, ?, ?, ?)")
_REJECT_INSERT = ("INSERT INTO send_task_rejects (task_id, line, value, reason)",
                  "(?, ?, ?, ?)")
_OUTCOME = {MessageStatus.WAITING.value: ProgressState.SUBMITTED,
            MessageStatus.SUCCESS.value: ProgressState.DELIVERED,
            MessageStatus.FAILED.value: ProgressState.FAILED,
            MessageStatus.UNKNOWN.value: ProgressState.UNKNOWN}


FAILURES = frozenset({ProgressState.FAILED, ProgressState.UNKNOWN, ProgressState.REFUSED})
"""The progress states whose codes `task_counts` lists as failures."""

def _task(row: Row[Any]) -> SendTask:
    return SendTask(
        TaskId(row.id), AccountId(row.account_id), row.name, row.sign_name, row.template_code,
        TemplateType(row.template_type), TaskState(row.state), row.created_at, row.file_name,
        row.total, row.rejected, row.duplicates, orjson.loads(row.params), row.rate,
        row.out_id, row.start_at, row.started_at, row.finished_at,
        None if row.source_task is None else TaskId(row.source_task), row.last_error)


def _state(row_state: str, status: str | None) -> ProgressState:
    if row_state == RowState.SUBMITTED.value and status is not None:
        return _OUTCOME[status]
    return ProgressState(row_state)


def mark_task_rows(conn: Connection, chunks: Sequence[TaskChunk]) -> set[MessageId]:
    """Mark each chunk's rows with their messages, in the accepting transaction; returns
    the ids of the messages whose rows were marked (the only ones to write). A chunk of a
    task that is no longer running marks nothing; a row no longer pending (marked by
    another feeder, cancelled) keeps its state.

    The rows are marked by a few statements of up to 64 rows each (`UPDATE ... FROM
    (VALUES ...)`), not one per row, and read back only when fewer rows than the chunk's
    were marked: in the SQLite writer thread every statement step waits for the GIL,
    which the event loop holds while busy, so 500 single-row updates and a 500-row read
    kept the writer (and the verification codes waiting for it) 35-175 ms per chunk
    (docs/benchmarks.md)."""
    kept: set[MessageId] = set()
    postgres = conn.dialect.name == "postgresql"
    for chunk in chunks:
        query = select(send_tasks.c.state).where(send_tasks.c.id == chunk.task_id)
        if postgres:
            query = query.with_for_update()  # a cancel waits for this commit, or we for it
        if conn.scalar(query) != TaskState.RUNNING.value:
            continue
        marks = [(seq, message_id,
                  (RowState.REFUSED if refused else RowState.SUBMITTED).value)
                 for seq, message_id, refused in zip(chunk.seqs, chunk.message_ids,
                                                     chunk.refused, strict=True)]
        marked = 0
        start = 0
        for size in _MARK_SIZES:
            while len(marks) - start >= size:
                part = marks[start:start + size]
                marked += conn.exec_driver_sql(_mark_sql(size, postgres), (
                    *(value for mark in part for value in mark), chunk.task_id)).rowcount
                start += size
        if marked == len(marks):
            kept.update(chunk.message_ids)
            continue
        # Some rows were not pending: keep the messages of the rows marked now. Read by
        # the primary key (task, seq): `message_id` has no index.
        r = send_task_rows.c
        ours = set(chunk.message_ids)
        kept.update(MessageId(i) for i in conn.scalars(select(r.message_id).where(
            r.task_id == chunk.task_id, r.seq.in_(list(chunk.seqs)))) if i in ours)
    return kept


_MARK_SIZES = (64, 16, 4, 1)


@cache
def _mark_sql(count: int, postgres: bool) -> str:
    """Mark `count` rows (seq, message id, state) of one task, each only while pending."""
    row = "(CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS VARCHAR(16)))"
    sql = (f"UPDATE send_task_rows SET state = v.column3, message_id = v.column2 "
           f"FROM (VALUES {', '.join([row] * count)}) AS v "
           f"WHERE send_task_rows.task_id = ? AND send_task_rows.seq = v.column1 "
           f"AND send_task_rows.state = 'pending'")
    return dollar_placeholders(sql) if postgres else sql


class TasksMixin:
    is_postgres: bool
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def _transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def _read_in_thread(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    # Creating

    async def create_task(self, account_id: AccountId, spec: TaskSpec, template: Template,
                          file_name: str, imported: Imported, now: datetime,
                          source_task: TaskId | None = None) -> SendTask:
        """Store a task with its rows and rejected rows (`domain/tasks.Imported`): the
        task is `importing` while the rows go in, then a `draft`."""
        task_id = await self._transaction(
            _insert_task, account_id, spec, template, file_name, imported, now, source_task)
        rows, rejects = imported.rows, imported.rejected
        for start in range(0, max(len(rows), len(rejects)), ROWS_PER_TRANSACTION):
            await self._transaction(
                _insert_rows, self.is_postgres, task_id,
                rows[start:start + ROWS_PER_TRANSACTION],
                rejects[start:start + ROWS_PER_TRANSACTION])
        await self._transaction(_set_state, task_id, (TaskState.IMPORTING,), TaskState.DRAFT,
                                now, None)
        found = await self.task(account_id, task_id)
        assert found is not None
        return found

    # Reading

    async def task(self, account_id: AccountId, task_id: TaskId) -> SendTask | None:
        async with self._read() as conn:
            row = (await conn.execute(select(send_tasks).where(
                send_tasks.c.id == task_id, send_tasks.c.account_id == account_id,
                send_tasks.c.state != TaskState.IMPORTING.value))).first()
        return _task(row) if row else None

    async def tasks(self, account_id: AccountId, limit: int = 100) -> list[SendTask]:
        async with self._read() as conn:
            rows = await conn.execute(select(send_tasks).where(
                send_tasks.c.account_id == account_id,
                send_tasks.c.state != TaskState.IMPORTING.value)
                .order_by(send_tasks.c.id.desc()).limit(limit))
            return [_task(r) for r in rows]

    async def due_tasks(self, now: datetime) -> list[SendTask]:
        """Running tasks and scheduled ones whose start has come, oldest first."""
        t = send_tasks.c
        async with self._read() as conn:
            rows = await conn.execute(select(send_tasks).where(
                (t.state == TaskState.RUNNING.value)
                | and_(t.state == TaskState.SCHEDULED.value, t.start_at <= now))
                .order_by(t.id))
            return [_task(r) for r in rows]

    async def task_rows(self, task_id: TaskId) -> list[TaskRow]:
        return await self._read_in_thread(_rows, task_id, False, 0)

    async def pending_rows(self, task_id: TaskId, limit: int) -> list[TaskRow]:
        """The next `limit` rows not yet submitted, in file order."""
        return await self._read_in_thread(_rows, task_id, True, limit)

    async def task_rejects(self, task_id: TaskId, after: int = 0,
                           limit: int | None = None) -> list[RejectedRow]:
        """The rows the import refused in line order: those after line `after`, at most
        `limit` (a page of an export) or all."""
        j = send_task_rejects.c
        async with self._read() as conn:
            rows = await conn.execute(select(j.line, j.value, j.reason)
                                      .where(j.task_id == task_id, j.line > after)
                                      .order_by(j.line).limit(limit))
            return [RejectedRow(r.line, r.value, r.reason) for r in rows]

    async def task_counts(self, task_id: TaskId) -> tuple[dict[ProgressState, int],
                                                           dict[str, int], int]:
        """Numbers per progress state, failures per code (failed, unknown and refused
        numbers only: a delivered one's code is no failure), parts accepted."""
        r, m = send_task_rows.c, messages.c
        async with self._read() as conn:
            rows = await conn.execute(
                select(r.state, m.status, m.error_code, func.count(), func.sum(m.segments))
                .select_from(send_task_rows.outerjoin(messages, m.id == r.message_id))
                .where(r.task_id == task_id).group_by(r.state, m.status, m.error_code))
            counts = dict.fromkeys(ProgressState, 0)
            codes: dict[str, int] = {}
            parts = 0
            for state, status, code, count, segments in rows:
                progress = _state(state, status)
                counts[progress] += count
                parts += int(segments or 0)
                if code and progress in FAILURES:
                    codes[code] = codes.get(code, 0) + count
        return counts, codes, parts

    async def task_results(self, task_id: TaskId, after: int = -1,
                           limit: int | None = None) -> list[ResultRow]:
        """Every number of the task with its outcome, in file order: those after row
        `after` (its `seq`), at most `limit` (a page of an export) or all."""
        return await self._read_in_thread(_results, task_id, after, limit)

    async def task_messages(self, task_id: TaskId, offset: int,
                            limit: int) -> tuple[int, list[Message]]:
        """One page of the task's messages in file order, with their total: the records
        filtered by task."""
        return await self._read_in_thread(_messages, task_id, offset, limit)

    async def drop_stale_imports(self, before: datetime) -> int:
        """Delete the tasks whose import was cut off (a crash while their rows were being
        written) and began before `before`; how many."""
        return await self._transaction(_drop_stale, before)

    # Changing state

    async def change_task_state(self, task_id: TaskId, allowed: Sequence[TaskState],
                                to: TaskState, now: datetime,
                                start_at: datetime | None = None) -> bool:
        """Move the task from one of `allowed` to `to`; a cancel marks its pending rows
        cancelled in the same transaction. False when it was in none of them."""
        return await self._transaction(_set_state, task_id, tuple(allowed), to, now, start_at)

    async def pause_task(self, task_id: TaskId, error: str, now: datetime) -> bool:
        """The engine pauses a running task it cannot feed (a request-level refusal)."""
        return await self._transaction(_set_state, task_id, (TaskState.RUNNING,),
                                       TaskState.PAUSED, now, None, error)

    async def finish_task(self, task_id: TaskId, now: datetime) -> bool:
        """A running task without pending rows is finished."""
        return await self._transaction(_finish, task_id, now)


def _insert_task(conn: Connection, account_id: AccountId, spec: TaskSpec, template: Template,
                 file_name: str, imported: Imported, now: datetime,
                 source_task: TaskId | None) -> TaskId:
    result = conn.execute(insert(send_tasks).values(
        account_id=account_id, name=spec.name[:128], sign_name=spec.sign_name,
        template_code=spec.template_code, template_type=template.type.value,
        state=TaskState.IMPORTING.value, file_name=file_name, total=len(imported.rows),
        rejected=len(imported.rejected), duplicates=imported.duplicates,
        params=orjson.dumps(spec.params).decode(), rate=spec.rate, out_id=spec.out_id,
        created_at=now, source_task=source_task, last_error=""))
    task_id = TaskId(int(result.inserted_primary_key[0]))  # type: ignore[index]
    if not spec.out_id:
        conn.execute(update(send_tasks).where(send_tasks.c.id == task_id)
                     .values(out_id=f"task-{task_id}"))
    return task_id


def _insert_rows(conn: Connection, postgres: bool, task_id: TaskId, rows: Sequence[TaskRow],
                 rejects: Sequence[RejectedRow]) -> None:
    pending = RowState.PENDING.value
    insert_rows(conn, postgres, *_ROW_INSERT,
                [(task_id, r.seq, r.line, r.phone, r.params, pending) for r in rows])
    insert_rows(conn, postgres, *_REJECT_INSERT,
                [(task_id, j.line, j.value, j.reason) for j in rejects])


def _set_state(conn: Connection, task_id: TaskId, allowed: tuple[TaskState, ...],
               to: TaskState, now: datetime, start_at: datetime | None,
               error: str = "") -> bool:
    t = send_tasks.c
    values: dict[str, Any] = {"state": to.value, "last_error": error}
    if start_at is not None:
        values["start_at"] = start_at
    if to is TaskState.RUNNING:
        values["started_at"] = func.coalesce(t.started_at, now)
    if to.final:
        values["finished_at"] = now
    changed = conn.execute(update(send_tasks).where(
        t.id == task_id, t.state.in_([s.value for s in allowed])).values(**values)).rowcount
    if changed and to is TaskState.CANCELLED:
        conn.execute(update(send_task_rows).where(
            send_task_rows.c.task_id == task_id,
            send_task_rows.c.state == RowState.PENDING.value)
            .values(state=RowState.CANCELLED.value))
    return bool(changed)


def _finish(conn: Connection, task_id: TaskId, now: datetime) -> bool:
    r = send_task_rows.c
    pending = conn.scalar(select(r.seq).where(
        r.task_id == task_id, r.state == RowState.PENDING.value).limit(1))
    if pending is not None:
        return False
    return _set_state(conn, task_id, (TaskState.RUNNING,), TaskState.FINISHED, now, None)


def _rows(conn: Connection, task_id: TaskId, pending: bool, limit: int) -> list[TaskRow]:
    r = send_task_rows.c
    query = select(r.seq, r.line, r.phone, r.params).where(r.task_id == task_id)
    if pending:
        query = query.where(r.state == RowState.PENDING.value).limit(limit)
    return [TaskRow(seq, line, PhoneNumber(phone), params)
            for seq, line, phone, params in conn.execute(query.order_by(r.seq))]


def _messages(conn: Connection, task_id: TaskId, offset: int,
              limit: int) -> tuple[int, list[Message]]:
    r = send_task_rows.c
    sent = (r.task_id == task_id, r.message_id.is_not(None))
    total = conn.scalar(select(func.count()).select_from(send_task_rows).where(*sent))
    rows = conn.execute(select(messages).join(send_task_rows, messages.c.id == r.message_id)
                        .where(*sent).order_by(r.seq).offset(offset).limit(limit))
    return int(total or 0), [message_of_row(row) for row in rows]


def _drop_stale(conn: Connection, before: datetime) -> int:
    t = send_tasks.c
    stale = [i for (i,) in conn.execute(select(t.id).where(
        t.state == TaskState.IMPORTING.value, t.created_at < before))]
    if stale:
        conn.execute(delete(send_task_rows).where(send_task_rows.c.task_id.in_(stale)))
        conn.execute(delete(send_task_rejects).where(send_task_rejects.c.task_id.in_(stale)))
        conn.execute(delete(send_tasks).where(t.id.in_(stale)))
    return len(stale)


def _results(conn: Connection, task_id: TaskId, after: int,
             limit: int | None) -> list[ResultRow]:
    r, m = send_task_rows.c, messages.c
    rows = conn.execute(
        select(r.seq, r.line, r.phone, r.state, r.message_id, m.status, m.error_code,
               m.reason, m.biz_id)
        .select_from(send_task_rows.outerjoin(messages, m.id == r.message_id))
        .where(r.task_id == task_id, r.seq > after).order_by(r.seq).limit(limit))
    return [ResultRow(x.seq, x.line, PhoneNumber(x.phone), _state(x.state, x.status),
                      x.error_code or "", x.reason or "",
                      None if x.message_id is None else MessageId(x.message_id),
                      x.biz_id or "")
            for x in rows]
