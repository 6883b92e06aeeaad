"""The number lists the policy chain consults, in the SQL store: an account's bound test
numbers, promotion opt-outs per signature, and the platform blacklist.

Opt-outs and the blacklist can hold millions of numbers and are consulted for every number
sent, so intake keeps them in memory (`policy/lists.py`) and asks only for what changed:
every change bumps its list's counter in `list_versions` and stamps the changed rows with the
new value, in one transaction. The bump holds the counter row's lock until commit, so
versions become visible in the order they were given, and "rows with version > the last one
I saw" never misses a row that commits late. A blacklist removal keeps the row
(`removed_at`) so that readers learn of it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import (
    AccountId,
    BlacklistEntry,
    BoundTestNumber,
    OptOut,
    PhoneNumber,
)
from yizhan.storage.sql import dialect_insert
from yizhan.storage.tables import blacklist, list_versions, opt_outs, test_numbers

BLACKLIST = "blacklist"
OPT_OUTS = "opt_outs"
MAX_TEST_NUMBERS = 10
"""Test numbers an account may bind (docs/policy.md)."""
Bound = Literal["bound", "already", "full"]


def _bump(conn: Connection, name: str) -> int:
    """The next version of list `name`; its counter row stays locked until commit."""
    statement = dialect_insert(conn, list_versions).values(name=name, version=1)
    statement = statement.on_conflict_do_update(
        index_elements=["name"], set_={"version": list_versions.c.version + 1},
    ).returning(list_versions.c.version)
    return int(conn.execute(statement).scalar_one())


def opt_out_of_row(row: Any) -> OptOut:
    return OptOut(AccountId(row.account_id), row.sign_name, PhoneNumber(row.phone), row.source,
                  row.created_at)


def blacklist_entry_of_row(row: Any) -> BlacklistEntry:
    return BlacklistEntry(PhoneNumber(row.phone), tuple(row.signatures), row.source,
                          row.created_at, row.removed_at is not None)


def insert_opt_outs(conn: Connection, items: Sequence[OptOut]) -> int:
    version = _bump(conn, OPT_OUTS)  # writers of the list take turns from here
    new = {(o.account_id, o.sign_name, o.phone): o for o in items}
    for account_id, sign_name in {(o.account_id, o.sign_name) for o in items}:
        known = conn.execute(select(opt_outs.c.phone).where(
            opt_outs.c.account_id == account_id, opt_outs.c.sign_name == sign_name,
            opt_outs.c.phone.in_([o.phone for o in items]))).scalars()
        for phone in known:  # the first opt-out stands, with its source and date
            new.pop((account_id, sign_name, phone), None)
    if new:
        conn.execute(insert(opt_outs), [{
            "account_id": o.account_id, "sign_name": o.sign_name, "phone": o.phone,
            "source": o.source, "created_at": o.created_at, "version": version}
            for o in new.values()])
    return len(new)


def _add_blacklisted(conn: Connection, items: Sequence[BlacklistEntry]) -> None:
    """Add numbers, or widen their entries: signatures merge, and "all" wins."""
    version = _bump(conn, BLACKLIST)
    phones = sorted({e.phone for e in items})
    current = {row.phone: row for row in conn.execute(
        select(blacklist).where(blacklist.c.phone.in_(phones)))}
    merged: dict[str, BlacklistEntry] = {}
    for entry in items:
        before = merged.get(entry.phone)
        if before is None:
            row = current.get(entry.phone)
            before = (blacklist_entry_of_row(row)
                      if row is not None and row.removed_at is None else None)
        if before is not None:
            wide = () if not before.signatures or not entry.signatures else tuple(
                dict.fromkeys(before.signatures + entry.signatures))
            entry = BlacklistEntry(entry.phone, wide, before.source, before.created_at)
        merged[entry.phone] = entry
    values = [{"phone": e.phone, "signatures": list(e.signatures), "source": e.source,
               "created_at": e.created_at, "removed_at": None, "version": version}
              for e in merged.values()]
    conn.execute(delete(blacklist).where(blacklist.c.phone.in_(list(merged))))
    conn.execute(insert(blacklist), values)


def _remove_blacklisted(conn: Connection, phones: Sequence[str], now: datetime) -> int:
    version = _bump(conn, BLACKLIST)
    result = conn.execute(update(blacklist).where(
        blacklist.c.phone.in_(list(phones)), blacklist.c.removed_at.is_(None))
        .values(removed_at=now, version=version))
    return int(result.rowcount)


class ListsMixin:
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def _transaction(self, work: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError  # SqlStore's

    # Test numbers

    async def bind_test_number(self, account_id: AccountId, phone: PhoneNumber, now: datetime,
                               limit: int = MAX_TEST_NUMBERS) -> Bound:
        """Bind a test number, unless the account has `limit` of them already."""
        async with self._write() as conn:
            bound = set((await conn.execute(select(test_numbers.c.phone).where(
                test_numbers.c.account_id == account_id))).scalars())
            if phone in bound:
                return "already"
            if len(bound) >= limit:
                return "full"
            await conn.execute(insert(test_numbers).values(account_id=account_id, phone=phone,
                                                           created_at=now))
        return "bound"

    async def unbind_test_number(self, account_id: AccountId, phone: PhoneNumber) -> bool:
        async with self._write() as conn:
            result = await conn.execute(delete(test_numbers).where(
                test_numbers.c.account_id == account_id, test_numbers.c.phone == phone))
        return bool(result.rowcount)

    async def test_numbers(self, account_id: AccountId) -> list[BoundTestNumber]:
        async with self._read() as conn:
            rows = (await conn.execute(select(test_numbers).where(
                test_numbers.c.account_id == account_id)
                .order_by(test_numbers.c.created_at, test_numbers.c.phone))).all()
        return [BoundTestNumber(AccountId(r.account_id), PhoneNumber(r.phone), r.created_at)
                for r in rows]

    # Promotion opt-outs: added (by the uplink stage on `R`, or an operator), never removed

    async def add_opt_outs(self, items: Sequence[OptOut]) -> int:
        """Record opt-outs; returns how many were new (a repeated `R` changes nothing)."""
        if not items:
            return 0
        return int(await self._transaction(insert_opt_outs, items))

    async def add_opt_out(self, account_id: AccountId, sign_name: str, phone: PhoneNumber,
                          source: str, now: datetime) -> bool:
        return await self.add_opt_outs([OptOut(account_id, sign_name, phone, source, now)]) == 1

    async def opt_outs(self, account_id: AccountId, sign_name: str | None = None,
                       phone: str | None = None, limit: int = 1000) -> list[OptOut]:
        query = select(opt_outs).where(opt_outs.c.account_id == account_id)
        if sign_name is not None:
            query = query.where(opt_outs.c.sign_name == sign_name)
        if phone is not None:
            query = query.where(opt_outs.c.phone == phone)
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(opt_outs.c.created_at.desc(),
                                                      opt_outs.c.phone).limit(limit))).all()
        return [opt_out_of_row(r) for r in rows]

    async def opt_out_changes(self, since: int) -> tuple[int, list[OptOut]]:
        """Opt-outs stamped after version `since`, and the version to ask from next."""
        return await self._changes(opt_outs, since, opt_out_of_row)

    # Platform blacklist

    async def add_blacklisted(self, items: Sequence[BlacklistEntry]) -> None:
        if items:
            await self._transaction(_add_blacklisted, items)

    async def remove_blacklisted(self, phones: Sequence[str], now: datetime) -> int:
        """Take numbers off the blacklist; how many were on it."""
        if not phones:
            return 0
        return int(await self._transaction(_remove_blacklisted, phones, now))

    async def blacklisted(self, phone: str | None = None,
                          limit: int = 1000) -> tuple[int, list[BlacklistEntry]]:
        """Entries on the list (newest first, at most `limit`) and how many there are."""
        where: list[ColumnElement[bool]] = [blacklist.c.removed_at.is_(None)]
        if phone is not None:
            where.append(blacklist.c.phone == phone)
        async with self._read() as conn:
            total = await conn.scalar(select(func.count()).select_from(blacklist).where(*where))
            rows = (await conn.execute(select(blacklist).where(*where).order_by(
                blacklist.c.created_at.desc(), blacklist.c.phone).limit(limit))).all()
        return int(total or 0), [blacklist_entry_of_row(r) for r in rows]

    async def blacklist_changes(self, since: int) -> tuple[int, list[BlacklistEntry]]:
        """Entries (removals too) stamped after version `since`, and the next version."""
        return await self._changes(blacklist, since, blacklist_entry_of_row)

    async def _changes(self, table: Any, since: int,
                       make: Callable[[Any], Any]) -> tuple[int, list[Any]]:
        async with self._read() as conn:
            rows = (await conn.execute(select(table).where(table.c.version > since)
                                       .order_by(table.c.version))).all()
        return (rows[-1].version if rows else since), [make(r) for r in rows]
