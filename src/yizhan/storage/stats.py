"""Counts of messages by status over a time range, for QuerySendStatistics.

Computed from the records for now; the statistics work makes them incremental.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import AccountId, MessageStatus, TemplateType
from yizhan.storage.tables import messages


class StatsMixin:
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

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
