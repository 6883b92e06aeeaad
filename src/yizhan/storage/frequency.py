"""Accounts' frequency settings in the SQL store: lower limits, whitelisted numbers, and
enterprise verification, every change audited in the same transaction (who, when, what, old
and new value).

An account is enterprise-verified when it has an approved qualification of kind
`enterprise` (docs/domain.md vocabulary); `verify_enterprise` records one (the operator's
`yizhan accounts verify-enterprise`). Only such accounts may keep a whitelist.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import AccountId, ReviewState
from yizhan.domain.rates import AuditEntry, FrequencyProfile
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import (
    account_rate_limits,
    qualifications,
    rate_settings_audit,
    rate_whitelist,
)

ENTERPRISE = "enterprise"


def _audit(conn: Connection, account_id: AccountId, actor: str, item: str, old: str,
           new: str, now: datetime) -> None:
    conn.execute(insert(rate_settings_audit).values(
        account_id=account_id, actor=actor, item=item, old=old, new=new, at=now))


class FrequencySettings:
    """Reads and changes of frequency settings; `frequency_profile` is what intake uses."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def frequency_profile(self, account_id: AccountId) -> FrequencyProfile:
        async with self._store._read() as conn:
            limits = await self._limits(conn, account_id)
            enterprise = await self._enterprise(conn, account_id)
            phones = (await conn.execute(select(rate_whitelist.c.phone).where(
                rate_whitelist.c.account_id == account_id))).scalars().all()
        return FrequencyProfile(limits, frozenset(phones), enterprise)

    async def enterprise(self, account_id: AccountId) -> bool:
        async with self._store._read() as conn:
            return await self._enterprise(conn, account_id)

    @staticmethod
    async def _enterprise(conn: AsyncConnection, account_id: AccountId) -> bool:
        found = await conn.scalar(select(qualifications.c.id).where(
            qualifications.c.account_id == account_id, qualifications.c.kind == ENTERPRISE,
            qualifications.c.state == ReviewState.APPROVED.value).limit(1))
        return found is not None

    @staticmethod
    async def _limits(conn: AsyncConnection, account_id: AccountId) -> dict[str, int]:
        rows = await conn.execute(select(account_rate_limits.c.rule,
                                         account_rate_limits.c.max_count).where(
            account_rate_limits.c.account_id == account_id))
        return {rule: int(value) for rule, value in rows}

    async def set_limit(self, account_id: AccountId, rule: str, value: int | None,
                        actor: str, now: datetime) -> tuple[int | None, int | None]:
        """Set (or with None, remove) the account's own limit of a rule (validated by the
        caller); returns (old, new)."""
        def work(conn: Connection) -> tuple[int | None, int | None]:
            where = (account_rate_limits.c.account_id == account_id,
                     account_rate_limits.c.rule == rule)
            old = conn.scalar(select(account_rate_limits.c.max_count).where(*where))
            if old == value:
                return old, value
            conn.execute(delete(account_rate_limits).where(*where))
            if value is not None:
                conn.execute(insert(account_rate_limits).values(
                    account_id=account_id, rule=rule, max_count=value))
            _audit(conn, account_id, actor, f"limit {rule}", _text(old), _text(value), now)
            return old, value
        return await self._store._transaction(work)

    async def set_whitelisted(self, account_id: AccountId, phone: str, listed: bool,
                              actor: str, now: datetime) -> bool:
        """Add or remove a number; returns whether anything changed."""
        def work(conn: Connection) -> bool:
            where = (rate_whitelist.c.account_id == account_id, rate_whitelist.c.phone == phone)
            present = conn.scalar(select(rate_whitelist.c.phone).where(*where)) is not None
            if present == listed:
                return False
            if listed:
                conn.execute(insert(rate_whitelist).values(account_id=account_id, phone=phone,
                                                           added_at=now))
            else:
                conn.execute(delete(rate_whitelist).where(*where))
            _audit(conn, account_id, actor, f"whitelist {phone}", _listed(present),
                   _listed(listed), now)
            return True
        return await self._store._transaction(work)

    async def whitelist(self, account_id: AccountId) -> list[tuple[str, datetime]]:
        async with self._store._read() as conn:
            rows = await conn.execute(select(rate_whitelist.c.phone, rate_whitelist.c.added_at)
                                      .where(rate_whitelist.c.account_id == account_id)
                                      .order_by(rate_whitelist.c.phone))
            return [(phone, added) for phone, added in rows]

    async def verify_enterprise(self, account_id: AccountId, company: str, actor: str,
                                now: datetime) -> bool:
        """Record an approved enterprise qualification; False if the account had one."""
        def work(conn: Connection) -> bool:
            found = conn.scalar(select(qualifications.c.id).where(
                qualifications.c.account_id == account_id, qualifications.c.kind == ENTERPRISE,
                qualifications.c.state == ReviewState.APPROVED.value).limit(1))
            if found is not None:
                return False
            taken = conn.scalar(select(qualifications.c.id).where(
                qualifications.c.account_id == account_id, qualifications.c.name == company,
                qualifications.c.state != ReviewState.DELETED.value).limit(1))
            # names are unique per account: a tenant's qualification may bear the company's
            name = company if taken is None else f"{company[:100]}_{now:%Y%m%d%H%M%S}"
            conn.execute(insert(qualifications).values(
                account_id=account_id, name=name, kind=ENTERPRISE, use="self",
                state=ReviewState.APPROVED.value, reason="", created_at=now))
            _audit(conn, account_id, actor, "enterprise verification", "no",
                   f"yes ({company})", now)
            return True
        return await self._store._transaction(work)

    async def audit(self, account_id: AccountId, limit: int = 100) -> list[AuditEntry]:
        """The latest changes first."""
        async with self._store._read() as conn:
            rows = await conn.execute(
                select(rate_settings_audit).where(rate_settings_audit.c.account_id == account_id)
                .order_by(rate_settings_audit.c.id.desc()).limit(limit))
            return [AuditEntry(r.at, r.actor, r.item, r.old, r.new) for r in rows]


def _text(value: int | None) -> str:
    return "platform default" if value is None else str(value)


def _listed(listed: bool) -> str:
    return "whitelisted" if listed else "not whitelisted"
