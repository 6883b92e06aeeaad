"""Qualifications (资质) in the SQL store, and the audit of their review: each submission
or update opens a review ticket (a `qualification_decisions` row whose id is the ticket,
`order_id`), each operator decision is a row on that ticket (docs/compliance.md
"Qualifications"). Queries that take an account id see that account's rows only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import (
    AccountId,
    Qualification,
    QualificationDecision,
    QualificationDetails,
    QualificationKind,
    ReviewState,
)
from yizhan.storage.tables import qualification_decisions, qualifications, signatures

DETAIL_COLUMNS = ("company_type", "company_name", "organization_code", "license_valid",
                  "legal_person_name", "legal_person_id_type", "legal_person_id_no",
                  "legal_person_id_valid", "admin_name", "admin_id_type", "admin_id_no",
                  "admin_id_valid", "admin_phone", "share", "remark")


def _qualification(row: Row[Any]) -> Qualification:
    details = QualificationDetails(
        row.name, QualificationKind(row.kind), row.use == "self",
        **{c: getattr(row, c) for c in DETAIL_COLUMNS},
        documents=tuple((role, ref) for role, ref in orjson.loads(row.documents)))
    return Qualification(row.id, AccountId(row.account_id), details, ReviewState(row.state),
                         row.reason, row.created_at, row.order_id, row.reviewed_at)


def _values(details: QualificationDetails) -> dict[str, Any]:
    return {"name": details.name, "kind": details.kind.value,
            "use": "self" if details.for_self else "others",
            **{c: getattr(details, c) for c in DETAIL_COLUMNS},
            "documents": orjson.dumps([list(d) for d in details.documents]).decode()}


def _open_ticket(conn: Connection, qualification_id: int, actor: str, reason: str,
                 now: datetime) -> int:
    """A new review ticket for the qualification, which goes (back) to review."""
    result = conn.execute(insert(qualification_decisions).values(
        qualification_id=qualification_id, order_id=0, at=now, actor=actor,
        state=ReviewState.PENDING.value, reason=reason))
    order_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    conn.execute(update(qualification_decisions).where(
        qualification_decisions.c.id == order_id).values(order_id=order_id))
    conn.execute(update(qualifications).where(qualifications.c.id == qualification_id).values(
        order_id=order_id, state=ReviewState.PENDING.value, reason="", reviewed_at=None))
    return order_id


def _decide(conn: Connection, row: Row[Any], state: ReviewState, reason: str, actor: str,
            now: datetime) -> None:
    conn.execute(insert(qualification_decisions).values(
        qualification_id=row.id, order_id=row.order_id, at=now, actor=actor,
        state=state.value, reason=reason))


class QualificationsMixin:
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def _one_qualification(self, *where: ColumnElement[bool]) -> Qualification | None:
        async with self._read() as conn:
            row = (await conn.execute(select(qualifications).where(*where))).first()
        return _qualification(row) if row else None

    async def submit_qualification(self, account_id: AccountId, details: QualificationDetails,
                                   actor: str, now: datetime) -> Qualification | None:
        """The new qualification, under review; None when the account has one of that name
        (submitted meanwhile by a concurrent request: the unique index decides)."""
        def work(conn: Connection) -> int:
            result = conn.execute(insert(qualifications).values(
                account_id=account_id, state=ReviewState.PENDING.value, reason="",
                created_at=now, **_values(details)))
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            _open_ticket(conn, new_id, actor, "submitted", now)
            return new_id

        try:
            async with self._write() as conn:
                new_id = await conn.run_sync(work)
        except IntegrityError:
            return None
        found = await self.qualification(account_id, new_id)
        assert found is not None
        return found

    async def qualification(self, account_id: AccountId,
                            qualification_id: int) -> Qualification | None:
        return await self._one_qualification(qualifications.c.id == qualification_id,
                               qualifications.c.account_id == account_id,
                               qualifications.c.state != ReviewState.DELETED.value)

    async def qualification_named(self, account_id: AccountId,
                                  name: str) -> Qualification | None:
        return await self._one_qualification(qualifications.c.name == name,
                               qualifications.c.account_id == account_id,
                               qualifications.c.state != ReviewState.DELETED.value)

    async def qualification_by_id(self, qualification_id: int) -> Qualification | None:
        """Any account's qualification, deleted ones too: for the operator."""
        return await self._one_qualification(qualifications.c.id == qualification_id)

    async def page_qualifications(self, account_id: AccountId, where: Any, offset: int,
                                  limit: int) -> tuple[int, list[Qualification]]:
        """`where` is a `compliance.qualifications.QualificationFilter`; names match in
        part, the rest exactly."""
        q = qualifications.c
        conditions: list[ColumnElement[bool]] = [q.account_id == account_id,
                                                 q.state != ReviewState.DELETED.value]
        for column, part in ((q.name, where.name), (q.company_name, where.company_name),
                             (q.legal_person_name, where.legal_person_name)):
            if part:
                conditions.append(column.contains(part, autoescape=True))
        if where.state is not None:
            conditions.append(q.state == where.state.value)
        if where.for_self is not None:
            conditions.append(q.use == ("self" if where.for_self else "others"))
        if where.order_id is not None:
            conditions.append(q.order_id == where.order_id)
        async with self._read() as conn:
            total = await conn.scalar(select(func.count()).select_from(qualifications)
                                      .where(*conditions))
            rows = await conn.execute(select(qualifications).where(*conditions)
                                      .order_by(q.id.desc()).offset(offset).limit(limit))
            return int(total or 0), [_qualification(r) for r in rows]

    async def list_qualifications(self, account_id: AccountId | None = None,
                                  state: ReviewState | None = None) -> list[Qualification]:
        """The operator's view: every account's (or one's), oldest first."""
        conditions: list[ColumnElement[bool]] = []
        if account_id is not None:
            conditions.append(qualifications.c.account_id == account_id)
        if state is not None:
            conditions.append(qualifications.c.state == state.value)
        async with self._read() as conn:
            rows = await conn.execute(select(qualifications).where(*conditions)
                                      .order_by(qualifications.c.id))
            return [_qualification(r) for r in rows]

    async def update_qualification(self, qualification_id: int, details: QualificationDetails,
                                   actor: str, now: datetime) -> Qualification:
        """Replace the details; the qualification goes back to review on a new ticket."""
        def work(conn: Connection) -> None:
            conn.execute(update(qualifications).where(qualifications.c.id == qualification_id)
                         .values(**_values(details)))
            _open_ticket(conn, qualification_id, actor, "updated", now)

        async with self._write() as conn:
            await conn.run_sync(work)
        found = await self.qualification_by_id(qualification_id)
        assert found is not None
        return found

    async def delete_qualification(self, qualification_id: int, actor: str,
                                   now: datetime) -> None:
        await self._record(qualification_id, ReviewState.DELETED, "deleted by the account",
                           actor, now)

    async def signatures_using(self, qualification_id: int) -> int:
        async with self._read() as conn:
            found = await conn.scalar(select(func.count()).select_from(signatures).where(
                signatures.c.qualification_id == qualification_id,
                signatures.c.state != ReviewState.DELETED.value))
            return int(found or 0)

    async def review_qualification(self, qualification_id: int, state: ReviewState,
                                   reason: str, actor: str,
                                   now: datetime) -> Qualification | None:
        """The operator's decision on the current ticket, audited."""
        return await self._record(qualification_id, state, reason, actor, now)

    async def _record(self, qualification_id: int, state: ReviewState, reason: str,
                      actor: str, now: datetime) -> Qualification | None:
        def work(conn: Connection) -> bool:
            row = conn.execute(select(qualifications).where(
                qualifications.c.id == qualification_id)).first()
            if row is None:
                return False
            _decide(conn, row, state, reason, actor, now)
            conn.execute(update(qualifications).where(qualifications.c.id == qualification_id)
                         .values(state=state.value, reason=reason, reviewed_at=now))
            return True

        async with self._write() as conn:
            if not await conn.run_sync(work):
                return None
        return await self.qualification_by_id(qualification_id)

    async def qualification_decisions(self, qualification_id: int,
                                      ) -> Sequence[QualificationDecision]:
        """Every step of the qualification's review, oldest first."""
        d = qualification_decisions.c
        async with self._read() as conn:
            rows = await conn.execute(select(qualification_decisions).where(
                d.qualification_id == qualification_id).order_by(d.id))
            return [QualificationDecision(r.qualification_id, r.order_id, r.at, r.actor,
                                          ReviewState(r.state), r.reason) for r in rows]
