"""Carrier registrations of signatures in the SQL store, one row per signature and sub-port
(domain/registration.py, docs/compliance.md "Carrier registration")."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Row, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import AccountId, MessageStatus, ReviewState
from yizhan.domain.registration import (
    Isp,
    RegistrationState,
    SubPort,
    SubPortRegistration,
)
from yizhan.storage.sql import dialect_insert
from yizhan.storage.tables import messages, review_decisions, signatures, stats_daily
from yizhan.storage.tables import signature_registrations as reg

USABLE = (int(RegistrationState.AWAITING_VERIFICATION), int(RegistrationState.REGISTERED))


def registration_of_row(row: Row[Any]) -> SubPortRegistration:
    return SubPortRegistration(
        row.id, AccountId(row.account_id), row.signature_id, row.name, Isp(row.isp),
        row.channel, row.sub_port, RegistrationState(row.state),
        tuple(orjson.loads(row.reasons)), row.detail, row.qualification_id, row.requested_at,
        row.due_at, row.answered_at, row.deliveries, row.updated_at)


class RegistrationsMixin:
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def file_sign_registrations(self, account_id: AccountId, signature_id: int,
                                 sub_ports: Sequence[SubPort], qualification_id: int | None,
                                 now: datetime, due: datetime) -> list[SubPortRegistration]:
        """Start (or start again) the signature's registration on each of `sub_ports`:
        registering, answer expected by `due`, deliveries counted from zero."""
        values = [dict(account_id=account_id, signature_id=signature_id, isp=p.isp.value,
                       channel=p.channel, sub_port=p.number,
                       state=int(RegistrationState.REGISTERING),
                       reasons=orjson.dumps(["REGISTERING"]).decode(), detail="",
                       qualification_id=qualification_id, requested_at=now, due_at=due,
                       answered_at=None, deliveries=0, updated_at=now) for p in sub_ports]
        await self._put_registrations(values)
        return await self.sign_registrations(signature_id)

    async def sign_registrations(self, signature_id: int) -> list[SubPortRegistration]:
        """The signature's rows, by carrier then channel."""
        return await self._registrations(reg.c.signature_id == signature_id)

    async def sign_registration(self, registration_id: int) -> SubPortRegistration | None:
        found = await self._registrations(reg.c.id == registration_id)
        return found[0] if found else None

    async def sign_registrations_in(self, states: Collection[RegistrationState],
                               due_by: datetime | None = None,
                               limit: int = 1000) -> list[SubPortRegistration]:
        """Rows in one of `states` (and answer due by `due_by`, when given), oldest
        request first: the sweeper's work."""
        where: list[ColumnElement[bool]] = [reg.c.state.in_([int(s) for s in states])]
        if due_by is not None:
            where.append(reg.c.due_at <= due_by)
        return await self._registrations(*where, order=reg.c.id, limit=limit)

    async def set_sign_registration(self, registration_id: int, state: RegistrationState,
                               reasons: Sequence[str], now: datetime, *, detail: str = "",
                               answered: bool = False,
                               expect: Collection[RegistrationState] = (),
                               requested_at: datetime | None = None) -> bool:
        """Move one row to `state`; `answered` stamps the carrier's answer time, `expect`
        (when given) the states the row must be in, `requested_at` (when given) the request
        it must still be on (False when it was not)."""
        values: dict[str, Any] = dict(state=int(state), reasons=orjson.dumps(
            list(reasons)).decode(), detail=detail, updated_at=now)
        if answered:
            values["answered_at"] = now
        where: list[ColumnElement[bool]] = [reg.c.id == registration_id]
        if expect:
            where.append(reg.c.state.in_([int(s) for s in expect]))
        if requested_at is not None:
            where.append(reg.c.requested_at == requested_at)
        async with self._write() as conn:
            result = await conn.execute(update(reg).where(*where).values(**values))
            return bool(result.rowcount)

    async def count_sign_deliveries(self, registration_ids: Sequence[int],
                                            count: int, now: datetime) -> None:
        """Add `count` successful deliveries to each row (verification, 1 -> 3)."""
        if not registration_ids:
            return
        async with self._write() as conn:
            await conn.execute(update(reg).where(reg.c.id.in_(list(registration_ids)))
                               .values(deliveries=reg.c.deliveries + count, updated_at=now))

    async def registered_channels(self, pairs: Sequence[tuple[AccountId, str]]
                                  ) -> dict[tuple[AccountId, str], frozenset[str]]:
        """For each (account, signature name), the channels on which the carrier accepts
        the signature (awaiting verification or registered); pairs with none are left
        out."""
        if not pairs:
            return {}
        query = (select(signatures.c.account_id, signatures.c.name, reg.c.channel)
                 .join(reg, reg.c.signature_id == signatures.c.id)
                 .where(tuple_(signatures.c.account_id, signatures.c.name).in_(list(pairs)),
                        reg.c.state.in_(USABLE)))
        found: dict[tuple[AccountId, str], set[str]] = {}
        async with self._read() as conn:
            for row in await conn.execute(query):
                found.setdefault((AccountId(row.account_id), row.name), set()).add(
                    row.channel)
        return {k: frozenset(v) for k, v in found.items()}

    async def _registrations(self, *where: ColumnElement[bool], order: Any = None,
                             limit: int | None = None) -> list[SubPortRegistration]:
        query = (select(reg, signatures.c.name)
                 .join(signatures, signatures.c.id == reg.c.signature_id).where(*where)
                 .order_by(*([order] if order is not None else [reg.c.isp, reg.c.channel])))
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as conn:
            return [registration_of_row(r) for r in await conn.execute(query)]


    # The registration service and its sweeper (compliance/registration.py)

    async def hold_sign_registrations(self, account_id: AccountId, signature_id: int,
                                      sub_ports: Sequence[SubPort],
                                      qualification_id: int | None, reason: str, detail: str,
                                      now: datetime) -> list[SubPortRegistration]:
        """Record that the signature could not be filed on `sub_ports` (not registered, for
        `reason`: no qualification, or one that cannot stand for registration); nothing is
        requested from the carrier."""
        values = [dict(account_id=account_id, signature_id=signature_id, isp=p.isp.value,
                       channel=p.channel, sub_port=p.number,
                       state=int(RegistrationState.NOT_REGISTERED),
                       reasons=orjson.dumps([reason]).decode(), detail=detail,
                       qualification_id=qualification_id, requested_at=None, due_at=None,
                       answered_at=None, deliveries=0, updated_at=now) for p in sub_ports]
        await self._put_registrations(values)
        return await self.sign_registrations(signature_id)

    async def set_sign_deliveries(self, registration_id: int, count: int,
                                  now: datetime) -> None:
        """The successful deliveries counted for verification so far (the sweeper counts
        them again each round, so the number is set, not added)."""
        async with self._write() as conn:
            await conn.execute(update(reg).where(reg.c.id == registration_id)
                               .values(deliveries=count, updated_at=now))

    async def successful_deliveries(self, account_id: AccountId, sign_name: str, channel: str,
                                    since: datetime, limit: int) -> int:
        """How many of the signature's messages created since `since` went through
        `channel` and were delivered (a success receipt), counting at most `limit`: the
        sweeper needs only to know whether the threshold is reached."""
        m = messages.c
        found = (select(m.id).where(m.account_id == account_id, m.created_at >= since,
                                    m.sign_name == sign_name, m.channel == channel,
                                    m.status == MessageStatus.SUCCESS.value)
                 .limit(limit).subquery())
        async with self._read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(found)) or 0)

    async def last_send_day(self, account_id: AccountId, sign_name: str) -> date | None:
        """The last China day on which the signature sent anything (the daily statistics,
        which outlive the records), or None."""
        s = stats_daily.c
        async with self._read() as conn:
            day = await conn.scalar(select(func.max(s.day)).where(
                s.account_id == account_id, s.sign_name == sign_name, s.sent > 0))
        return None if day is None else date(int(day[:4]), int(day[4:6]), int(day[6:]))

    async def audit_registration(self, account_id: AccountId, signature_id: int, actor: str,
                                 reason: str, now: datetime) -> None:
        """Who started (or tried to start) a signature's registration, and what came of it:
        a `review_decisions` row of kind "registration" (the signature's review state, which
        is approved, stands in its state column)."""
        async with self._write() as conn:
            await conn.execute(insert(review_decisions).values(
                kind="registration", subject=str(signature_id), account_id=account_id,
                actor=actor, state=ReviewState.APPROVED.value, reason=reason, at=now))

    async def sign_registrations_after(self, states: Collection[RegistrationState],
                                       after: int, limit: int = 500,
                                       ) -> list[SubPortRegistration]:
        """Rows in one of `states` with an id above `after`, by id: one page of the
        sweeper's walk over all of them."""
        return await self._registrations(reg.c.state.in_([int(s) for s in states]),
                                         reg.c.id > after, order=reg.c.id, limit=limit)

    async def _put_registrations(self, values: Sequence[dict[str, Any]]) -> None:
        """Insert each row, or replace the signature's row on its channel."""
        if not values:
            return
        async with self._write() as conn:
            for row in values:
                statement = dialect_insert(conn, reg).values(**row)
                await conn.execute(statement.on_conflict_do_update(
                    index_elements=["signature_id", "channel"],
                    set_={k: v for k, v in row.items()
                          if k not in ("signature_id", "channel", "account_id")}))
    async def usable_sub_ports(self) -> set[tuple[str, str]]:
        """(sub-port number, signature name) of every registration a carrier accepts
        (awaiting verification or registered): the simulated carriers' registry
        (docs/simulator.md "Real-name registration")."""
        query = (select(reg.c.sub_port, signatures.c.name)
                 .join(signatures, signatures.c.id == reg.c.signature_id)
                 .where(reg.c.state.in_(USABLE)))
        async with self._read() as conn:
            return {(row.sub_port, row.name) for row in await conn.execute(query)}
