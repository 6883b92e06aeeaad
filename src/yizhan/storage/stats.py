"""Statistics: the incremental counters of `stats_daily` (kept by `storage/reports.py` in
the transactions that change message status), summed per requested dimension.

`failure_codes` sums `stats_codes_daily` (failed messages per code, same days and
dimensions, plus the reporting channel and the code). `status_counts` counts records
directly; tests use it to check the counters against the
records they summarise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.carriers import Carrier
from yizhan.domain.model import AccountId, MessageStatus, TemplateType
from yizhan.domain.statistics import StatsRow
from yizhan.storage.tables import messages, stats_codes_daily, stats_daily

R = TypeVar("R")
COUNTERS = ("sent", "success", "failed", "unknown", "waiting", "billed_parts")


class StatsMixin:
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def _read_in_thread(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's: a read in one hop (a reader thread on SQLite)

    async def statistics(self, account_id: AccountId, start: date, end: date, *,
                         group_by: Sequence[str] = ("day",),
                         template_type: TemplateType | None = None,
                         sign_name: str | None = None, template_code: str | None = None,
                         international: bool | None = None) -> list[StatsRow]:
        """Counters of China send days [start, end] (inclusive) summed per `group_by`,
        newest day first, then by the other dimensions."""
        c = stats_daily.c
        conditions = [c.account_id == account_id, c.day >= start.strftime("%Y%m%d"),
                      c.day <= end.strftime("%Y%m%d")]
        if template_type is not None:
            conditions.append(c.template_type == template_type.value)
        if sign_name is not None:
            conditions.append(c.sign_name == sign_name)
        if template_code is not None:
            conditions.append(c.template_code == template_code)
        if international is not None:
            abroad = c.carrier == Carrier.INTERNATIONAL.value
            conditions.append(abroad if international else ~abroad)
        keys = [c[name] for name in group_by]
        order = [k.desc() if k.name == "day" else k for k in keys]
        query = (select(*keys, *(func.sum(c[n]) for n in COUNTERS)).where(*conditions)
                 .group_by(*keys).order_by(*order))
        rows = await self._read_in_thread(_all_rows, query)
        width = len(keys)
        return [StatsRow(dict(zip(group_by, row[:width], strict=True)),
                         *(int(v or 0) for v in row[width:])) for row in rows]

    async def failure_codes(self, account_id: AccountId, start: date, end: date, *,
                            group_by: Sequence[str] = ("carrier", "channel", "code"),
                            sign_name: str | None = None, template_code: str | None = None,
                            codes: Sequence[str] | None = None) -> list[tuple[dict[str, str], int]]:
        """Failed messages of China send days [start, end] (inclusive) summed per
        `group_by` (of `day`, `sign_name`, `template_code`, `carrier`, `channel`, `code`),
        most first; `codes` narrows to those codes. One range read of the primary key
        (account, day, ...)."""
        c = stats_codes_daily.c
        conditions = [c.account_id == account_id, c.day >= start.strftime("%Y%m%d"),
                      c.day <= end.strftime("%Y%m%d")]
        if sign_name is not None:
            conditions.append(c.sign_name == sign_name)
        if template_code is not None:
            conditions.append(c.template_code == template_code)
        if codes is not None:
            conditions.append(c.code.in_(list(codes)))
        keys = [c[name] for name in group_by]
        total = func.sum(c.failed)
        query = (select(*keys, total).where(*conditions).group_by(*keys)
                 .order_by(total.desc(), *keys))
        rows = await self._read_in_thread(_all_rows, query)
        width = len(keys)
        return [(dict(zip(group_by, row[:width], strict=True)), int(row[width] or 0))
                for row in rows]

    async def status_counts(self, account_id: AccountId, start: datetime, end: datetime,
                            template_type: TemplateType | None = None,
                            sign_name: str | None = None,
                            international: bool | None = None) -> dict[MessageStatus, int]:
        conditions = [messages.c.account_id == account_id, messages.c.created_at >= start,
                      messages.c.created_at < end]
        if template_type is not None:
            conditions.append(messages.c.template_type == template_type)
        if sign_name is not None:
            conditions.append(messages.c.sign_name == sign_name)
        if international is not None:
            mainland = messages.c.phone.like("+86%")
            conditions.append(~mainland if international else mainland)
        async with self._read() as conn:
            rows = (await conn.execute(select(messages.c.status, func.count())
                                       .where(*conditions).group_by(messages.c.status))).all()
        return {MessageStatus(status): count for status, count in rows}


def _all_rows(conn: Connection, query: Select[Any]) -> Sequence[Row[Any]]:
    return conn.execute(query).all()
