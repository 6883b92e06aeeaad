"""Lease rows: one process at a time holds a role over the whole store (`Leases` of
`domain/ports.py`; the rule of who may take one over is `runtime/process_lease.py`'s).

Taking is one transaction: the row is read (locked on PostgreSQL) and written only if it is
missing, already this holder's, or given up by the caller's rule. Two processes inserting
the missing row at once meet the primary key: the loser reads the winner's row and is
refused (on SQLite the second writer waits for the first, then finds its row).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from yizhan.domain.ports import LeaseHolder
from yizhan.storage.tables import process_leases

_COLUMNS = tuple(process_leases.c[f.name] for f in fields(LeaseHolder))


class LeasesMixin:
    _transaction: Callable[..., Awaitable[Any]]

    async def take_lease(self, name: str, me: LeaseHolder,
                         free: Callable[[LeaseHolder], bool]) -> LeaseHolder | None:
        try:
            result: LeaseHolder | None = await self._transaction(_take, name, me, free)
        except IntegrityError:  # another process inserted it meanwhile: read theirs
            result = await self._transaction(_take, name, me, free)
        return result

    async def renew_lease(self, name: str, holder: str, expires_at: datetime) -> bool:
        renewed: bool = await self._transaction(_renew, name, holder, expires_at)
        return renewed

    async def release_lease(self, name: str, holder: str) -> None:
        await self._transaction(_release, name, holder)

    async def lease_holders(self, prefix: str) -> list[tuple[str, LeaseHolder]]:
        rows: list[tuple[str, LeaseHolder]] = await self._transaction(_holders, prefix)
        return rows


def _take(conn: Connection, name: str, me: LeaseHolder,
          free: Callable[[LeaseHolder], bool]) -> LeaseHolder | None:
    row = conn.execute(select(*_COLUMNS).where(process_leases.c.name == name)
                       .with_for_update()).first()
    values = asdict(me)
    if row is None:
        conn.execute(insert(process_leases).values(name=name, **values))
        return None
    current = LeaseHolder(*row)
    if current.holder != me.holder and not free(current):
        return current
    conn.execute(update(process_leases).where(process_leases.c.name == name).values(**values))
    return None


def _renew(conn: Connection, name: str, holder: str, expires_at: datetime) -> bool:
    done = conn.execute(update(process_leases)
                        .where(process_leases.c.name == name,
                               process_leases.c.holder == holder)
                        .values(expires_at=expires_at))
    return done.rowcount == 1


def _holders(conn: Connection, prefix: str) -> list[tuple[str, LeaseHolder]]:
    return [(row[0], LeaseHolder(*row[1:])) for row in conn.execute(
        select(process_leases.c.name, *_COLUMNS)
        .where(process_leases.c.name.startswith(prefix, autoescape=True))
        .order_by(process_leases.c.name)).all()]


def _release(conn: Connection, name: str, holder: str) -> None:
    conn.execute(delete(process_leases).where(process_leases.c.name == name,
                                              process_leases.c.holder == holder))
