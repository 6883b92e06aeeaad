"""Money in the SQL store: balances, top-ups, prepaid packages, and the charge of a message.

Implements docs/domain.md "Length and billing" and the balance rule (docs/billing.md):
- money is an integer number of thousandths of a yuan (厘), never a float;
- a message costs its parts; parts come first from the account's prepaid packages that are
  still valid when it is billed (the soonest to expire first), the rest from the balance at
  the part price the message was accepted with;
- a domestic message is billed in the transaction that applies its successful receipt, an
  international one in the transaction that records the channel's acceptance
  (`messages.py`); both find the message still unbilled under a row lock, so a duplicated
  receipt or a replayed outcome never bills twice.

`allocate` runs inside the caller's transaction; the rest are the operator's commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.carriers import MAINLAND_CODE
from yizhan.domain.model import AccountId, Package
from yizhan.storage.tables import accounts, packages, topups

DOMESTIC_PREFIX = MAINLAND_CODE
"""E.164 prefix of mainland numbers: billed on receipt."""


class Billable(Protocol):
    """A message to bill, as its record has it: a `Message`, or the `Subject` a receipt
    found (no copy of either is made to bill it)."""

    @property
    def id(self) -> int: ...
    @property
    def account_id(self) -> int: ...
    @property
    def segments(self) -> int:
        """The parts to bill."""
    @property
    def part_price(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Bill:
    charge: int
    package_parts: int


def allocate(conn: Connection, items: Sequence[Billable], now: datetime) -> dict[int, Bill]:
    """Take the items' parts from packages, then money from balances, in the caller's
    transaction; the bill of each message, by id, for the caller to record on it."""
    if not items:
        return {}
    owners = sorted({item.account_id for item in items})
    query = (select(packages.c.id, packages.c.account_id, packages.c.parts_left)
             .where(packages.c.account_id.in_(owners), packages.c.parts_left > 0,
                    packages.c.expires_at > now)
             .order_by(packages.c.expires_at, packages.c.id))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two stages billing one account take turns
    left: dict[int, list[list[int]]] = {}
    for package_id, account_id, parts_left in conn.execute(query):
        left.setdefault(account_id, []).append([package_id, parts_left])
    bills: dict[int, Bill] = {}
    debits: dict[int, int] = {}
    for item in items:
        from_packages = 0
        for package in left.get(item.account_id, ()):
            take = min(package[1], item.segments - from_packages)
            package[1] -= take
            from_packages += take
            if from_packages == item.segments:
                break
        money = (item.segments - from_packages) * item.part_price
        debits[item.account_id] = debits.get(item.account_id, 0) + money
        bills[item.id] = Bill(money, from_packages)
    _record(conn, left, debits)
    return bills


def _record(conn: Connection, left: dict[int, list[list[int]]], debits: dict[int, int]) -> None:
    used = [{"b_id": p[0], "b_left": p[1]} for owned in left.values() for p in owned]
    if used:
        conn.execute(update(packages).where(packages.c.id == bindparam("b_id"))
                     .values(parts_left=bindparam("b_left")), used)
    spent = [{"b_id": a, "b_amount": amount} for a, amount in sorted(debits.items()) if amount]
    if spent:
        conn.execute(update(accounts).where(accounts.c.id == bindparam("b_id"))
                     .values(balance=accounts.c.balance - bindparam("b_amount")), spent)


def package_of_row(row: Any) -> Package:
    return Package(row.id, AccountId(row.account_id), row.parts, row.parts_left,
                   row.expires_at, row.created_at)


class BillingMixin:
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def top_up(self, account_id: AccountId, amount: int, note: str,
                     now: datetime) -> int:
        """Credit the balance (a negative amount corrects a mistake); the new balance."""
        async with self._write() as conn:
            await conn.execute(insert(topups).values(account_id=account_id, amount=amount,
                                                     note=note, created_at=now))
            await conn.execute(update(accounts).where(accounts.c.id == account_id)
                               .values(balance=accounts.c.balance + amount))
            balance = await conn.scalar(select(accounts.c.balance)
                                        .where(accounts.c.id == account_id))
        return int(balance or 0)

    async def set_part_price(self, account_id: AccountId, price: int | None) -> None:
        """The account's own price per part; None: the platform's (`price_per_part`)."""
        async with self._write() as conn:
            await conn.execute(update(accounts).where(accounts.c.id == account_id)
                               .values(part_price=price))

    async def add_package(self, account_id: AccountId, parts: int, expires_at: datetime,
                          now: datetime) -> Package:
        async with self._write() as conn:
            result = await conn.execute(insert(packages).values(
                account_id=account_id, parts=parts, parts_left=parts, expires_at=expires_at,
                created_at=now))
        package_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return Package(package_id, account_id, parts, parts, expires_at, now)

    async def packages(self, account_id: AccountId) -> list[Package]:
        async with self._read() as conn:
            rows = (await conn.execute(select(packages)
                                       .where(packages.c.account_id == account_id)
                                       .order_by(packages.c.expires_at, packages.c.id))).all()
        return [package_of_row(r) for r in rows]
