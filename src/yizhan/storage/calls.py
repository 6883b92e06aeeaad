"""The API call log in the store (`domain/calls.py`; docs/diagnosis.md "The API call log").

- `add_calls`: a batch of calls in one background transaction (the call log's writer,
  `api/call_log.py`, hands them over every few hundred milliseconds, never one per request),
  many rows per statement on SQLite. A call that has no message records (anything but an
  accepted send) also gets its numbers in `api_call_numbers`, so it is found by number.
- `calls_for_number`: the calls that named a number on a China day, refused ones included:
  those indexed by number, and the accepted sends whose message records carry the number
  (found through the records' own phone index and the call's BizId).
- `query_calls`: an account's (or, for the operator, every) call of a period, filtered.
- `purge_calls`: retention, in small batches, oldest ids first.

A call's id carries its time (`domain/ids.py` `moment_of`): a period is an id range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, delete, func, select

from yizhan.domain.calls import ApiCall
from yizhan.domain.ids import first_id_at
from yizhan.domain.model import AccountId
from yizhan.domain.timezone import china_day_bounds
from yizhan.storage.sql import insert_rows
from yizhan.storage.tables import api_call_numbers, api_calls, messages

R = TypeVar("R")
CALL_COLUMNS = ("id", "action", "account_id", "key_id", "request_id", "http_status", "code",
                "number_count", "numbers", "sign_name", "template_code", "client", "biz_id",
                "detail")
_INSERT_CALLS = f"INSERT INTO api_calls ({', '.join(CALL_COLUMNS)})"
_CALL_ROW = f"({', '.join('?' * len(CALL_COLUMNS))})"
_INSERT_NUMBERS = "INSERT INTO api_call_numbers (call_id, position, phone)"


class CallsMixin:
    is_postgres: bool

    async def _transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def _read_in_thread(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def add_calls(self, calls: Sequence[ApiCall]) -> None:
        """Write `calls` in one transaction (in the writer's turn after the urgent ones).
        The rows are made here, in the caller's thread: the writer thread then only runs
        SQLite, which lets go of the GIL, instead of taking it from the event loop."""
        if not calls:
            return
        rows = [(c.id, c.action, c.account_id, c.key_id, c.request_id, c.http_status, c.code,
                 c.number_count, ",".join(c.numbers), c.sign_name, c.template_code, c.client,
                 c.biz_id, c.detail) for c in calls]
        numbers = [(c.id, i, phone) for c in calls if c.biz_id is None  # (no records)
                   for i, phone in enumerate(c.numbers)]
        await self._transaction(self._insert_calls, rows, numbers)

    def _insert_calls(self, conn: Connection, rows: list[tuple[Any, ...]],
                      numbers: list[tuple[Any, ...]]) -> None:
        insert_rows(conn, self.is_postgres, _INSERT_CALLS, _CALL_ROW, rows)
        insert_rows(conn, self.is_postgres, _INSERT_NUMBERS, "(?, ?, ?)", numbers)

    async def calls_for_number(self, account_id: AccountId | None, phone: str,
                               day: date) -> list[ApiCall]:
        """Every call that named `phone` (as stored: the E.164 form of a number, or the text
        given) on the China day `day`, oldest first, refused ones included. `account_id`
        None: every account's and the calls of unknown AccessKeys (the operator's view)."""
        start, end = china_day_bounds(day)
        return await self._read_in_thread(_for_number, account_id, phone, start, end)

    async def query_calls(self, account_id: AccountId | None, start: datetime, end: datetime,
                          *, phone: str | None = None, action: str | None = None,
                          code: str | None = None, offset: int = 0, limit: int = 50,
                          ) -> tuple[int, list[ApiCall]]:
        """Calls in [start, end), newest first, as a page and the total: an account's, or
        with `account_id` None every call (the operator's view). `phone` narrows to the calls
        that named it (`calls_for_number`'s rule)."""
        return await self._read_in_thread(_query, account_id, start, end, phone, action,
                                          code, offset, limit)

    async def purge_calls(self, cutoff: datetime, limit: int = 1000) -> int:
        """Delete up to `limit` calls older than `cutoff` with their numbers; 0 when none is
        left. The oldest calls have the smallest ids."""
        return await self._transaction(_delete_calls, first_id_at(cutoff), limit)


def _delete_calls(conn: Connection, before: int, limit: int) -> int:
    ids = list(conn.scalars(select(api_calls.c.id).where(api_calls.c.id < before)
                            .order_by(api_calls.c.id).limit(limit)))
    if not ids:
        return 0
    conn.execute(delete(api_call_numbers).where(api_call_numbers.c.call_id >= ids[0],
                                                api_call_numbers.c.call_id <= ids[-1]))
    return conn.execute(delete(api_calls).where(api_calls.c.id.in_(ids))).rowcount or 0


def _period(start: datetime, end: datetime, account_id: AccountId | None) -> list[Any]:
    period = [api_calls.c.id >= first_id_at(start), api_calls.c.id < first_id_at(end)]
    return period if account_id is None else [api_calls.c.account_id == account_id, *period]


def _for_number(conn: Connection, account_id: AccountId | None, phone: str, start: datetime,
                end: datetime) -> list[ApiCall]:
    named = (select(api_call_numbers.c.call_id)
             .where(api_call_numbers.c.phone == phone,
                    api_call_numbers.c.call_id >= first_id_at(start),
                    api_call_numbers.c.call_id < first_id_at(end)))
    found = {row.id: _call(row) for row in conn.execute(
        select(api_calls).where(api_calls.c.id.in_(named),
                                *_period(start, end, account_id)))}
    records = select(messages.c.biz_id).where(messages.c.phone == phone,
                                              messages.c.created_at >= start,
                                              messages.c.created_at < end)
    if account_id is not None:
        records = records.where(messages.c.account_id == account_id)
    biz_ids = sorted({row[0] for row in conn.execute(records.distinct())})
    if biz_ids:
        for row in conn.execute(select(api_calls).where(api_calls.c.biz_id.in_(biz_ids),
                                                        *_period(start, end, account_id))):
            found[row.id] = _call(row)
    return sorted(found.values(), key=lambda c: c.id)


def _query(conn: Connection, account_id: AccountId | None, start: datetime, end: datetime,
           phone: str | None, action: str | None, code: str | None, offset: int,
           limit: int) -> tuple[int, list[ApiCall]]:
    if phone is not None:
        calls = [c for c in _for_number(conn, account_id, phone, start, end)
                 if (action is None or c.action == action) and (code is None or c.code == code)]
        calls.reverse()
        return len(calls), calls[offset:offset + limit]
    conditions = _period(start, end, account_id)
    if action is not None:
        conditions.append(api_calls.c.action == action)
    if code is not None:
        conditions.append(api_calls.c.code == code)
    total = int(conn.scalar(select(func.count()).select_from(api_calls).where(*conditions))
                or 0)
    rows = conn.execute(select(api_calls).where(*conditions)
                        .order_by(api_calls.c.id.desc()).offset(offset).limit(limit))
    return total, [_call(row) for row in rows]


def _call(row: Row[Any]) -> ApiCall:
    return ApiCall(
        id=row.id, action=row.action,
        account_id=AccountId(row.account_id) if row.account_id is not None else None,
        key_id=row.key_id, request_id=row.request_id, http_status=row.http_status,
        code=row.code, numbers=tuple(row.numbers.split(",")) if row.numbers else (),
        number_count=row.number_count, sign_name=row.sign_name,
        template_code=row.template_code, client=row.client, biz_id=row.biz_id,
        detail=row.detail)
