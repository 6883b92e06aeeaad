"""The lists the policy checks read: keywords of the content filter (platform-wide when
`account_id` is None) and accounts' international registrations."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import AccountId, Registration, RegistrationKind
from yizhan.storage.tables import keywords, registrations


def _scope(account_id: AccountId | None) -> ColumnElement[bool]:
    column = keywords.c.account_id
    return column.is_(None) if account_id is None else column == account_id


class PolicyListsMixin:
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def keywords(self, account_id: AccountId | None) -> tuple[str, ...]:
        """The keywords of one list (None: the platform-wide list), sorted."""
        async with self._read() as conn:
            rows = await conn.execute(select(keywords.c.keyword).where(_scope(account_id))
                                      .order_by(keywords.c.keyword))
            return tuple(row.keyword for row in rows)

    async def add_keywords(self, account_id: AccountId | None, words: Iterable[str],
                           now: datetime) -> list[str]:
        """Add the words not yet in the list; returns those added, in the order given."""
        async with self._write() as conn:
            known = set((await conn.execute(select(keywords.c.keyword)
                                            .where(_scope(account_id)))).scalars())
            added = [w for w in dict.fromkeys(words) if w not in known]
            if added:
                await conn.execute(insert(keywords), [
                    {"account_id": account_id, "keyword": w, "created_at": now} for w in added])
        return added

    async def remove_keywords(self, account_id: AccountId | None,
                              words: Iterable[str]) -> int:
        async with self._write() as conn:
            result = await conn.execute(delete(keywords).where(
                _scope(account_id), keywords.c.keyword.in_(list(words))))
        return int(result.rowcount)

    async def registrations(self, account_id: AccountId) -> tuple[Registration, ...]:
        async with self._read() as conn:
            rows = await conn.execute(select(registrations)
                                      .where(registrations.c.account_id == account_id)
                                      .order_by(registrations.c.country, registrations.c.id))
            return tuple(_registration(row) for row in rows)

    async def add_registration(self, account_id: AccountId, country: str,
                               kind: RegistrationKind, value: str, now: datetime) -> bool:
        """False when the account has this registration already."""
        async with self._write() as conn:
            same = (registrations.c.account_id == account_id,
                    registrations.c.country == country, registrations.c.kind == kind,
                    registrations.c.value == value)
            if await conn.scalar(select(registrations.c.id).where(*same)):
                return False
            await conn.execute(insert(registrations).values(
                account_id=account_id, country=country, kind=kind, value=value,
                created_at=now))
        return True

    async def remove_registration(self, account_id: AccountId, country: str,
                                  kind: RegistrationKind, value: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(delete(registrations).where(
                registrations.c.account_id == account_id, registrations.c.country == country,
                registrations.c.kind == kind, registrations.c.value == value))
        return bool(result.rowcount)


def _registration(row: Any) -> Registration:
    return Registration(AccountId(row.account_id), row.country, RegistrationKind(row.kind),
                        row.value, row.created_at)
