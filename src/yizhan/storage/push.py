"""Push settings and the push outbox in the SQL store: claims for the push stage, outcomes
(delivered, retry later, dead letter), and the pull queue (receive with a visibility
timeout, acknowledge by id).

Per-message order (issue 7): an item is due only when no earlier item of the same message
is still in the outbox, so a message's later state is never delivered (pushed or received)
before its earlier one. Dead-lettering an item releases the later ones.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.push import PushClaim, PushEndpoints, PushRetry, QueueItem
from yizhan.storage.sealed import row_label
from yizhan.storage.sealing import Sealer
from yizhan.storage.sql import hot_sql
from yizhan.storage.tables import dead_letters, push_endpoints, push_items

PUSH = "push"
R = TypeVar("R")

_URL_OF_TOPIC = ("CASE i.topic WHEN 'SmsReport' THEN e.receipt_url WHEN 'SmsUp' THEN "
                 "e.uplink_url ELSE e.review_url END")
_IN_ORDER = ("(i.message_id IS NULL OR NOT EXISTS (SELECT 1 FROM push_items p "
             "WHERE p.message_id = i.message_id AND p.id < i.id))")
_DUE = "i.available_at <= ? AND (i.claimed_until IS NULL OR i.claimed_until < ?)"


def _endpoints(row: Any, sealer: Sealer) -> PushEndpoints:
    return PushEndpoints(row.account_id, row.receipt_url, row.uplink_url, row.review_url,
                         sealer.open(row.secret, row_label("push_endpoints", row.account_id)),
                         row.updated_at)


class PushMixin:
    is_postgres: bool
    sealer: Sealer
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def _transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    # Settings

    async def push_endpoints(self, account_id: int) -> PushEndpoints | None:
        async with self._read() as conn:
            row = (await conn.execute(select(push_endpoints).where(
                push_endpoints.c.account_id == account_id))).first()
        return _endpoints(row, self.sealer) if row else None

    async def set_push_endpoints(self, account_id: int, now: datetime, *,
                                 receipt_url: str | None = None, uplink_url: str | None = None,
                                 review_url: str | None = None,
                                 new_secret: bool = False) -> PushEndpoints:
        """Change the given targets (None: keep); the secret is made on first use."""
        changes = {k: v for k, v in (("receipt_url", receipt_url), ("uplink_url", uplink_url),
                                     ("review_url", review_url)) if v is not None}
        async with self._write() as conn:
            row = (await conn.execute(select(push_endpoints).where(
                push_endpoints.c.account_id == account_id))).first()
            if new_secret or row is None:
                changes["secret"] = self.sealer.seal(
                    secrets.token_urlsafe(32), row_label("push_endpoints", account_id))
            if row is None:
                await conn.execute(insert(push_endpoints).values(
                    account_id=account_id, updated_at=now, **{
                        "receipt_url": "", "uplink_url": "", "review_url": "", **changes}))
            else:
                await conn.execute(update(push_endpoints).where(
                    push_endpoints.c.account_id == account_id).values(updated_at=now,
                                                                       **changes))
            row = (await conn.execute(select(push_endpoints).where(
                push_endpoints.c.account_id == account_id))).one()
        return _endpoints(row, self.sealer)

    # The push stage

    async def claim_pushes(self, now: datetime, limit: int,
                           lease: timedelta) -> list[PushClaim]:
        """Claim up to `limit` due items whose topic has a URL, in id order, with their
        account's push secret opened (once per account of the claim)."""
        claims = await self._transaction(_claim_pushes, now, limit, now + lease)
        opened: dict[tuple[int, str], str] = {}
        for claim in claims:
            if (claim.account_id, claim.secret) not in opened:
                opened[claim.account_id, claim.secret] = self.sealer.open(
                    claim.secret, row_label("push_endpoints", claim.account_id))
        return [replace(c, secret=opened[c.account_id, c.secret]) for c in claims]

    async def finish_pushes(self, delivered: Sequence[int], retry: Sequence[PushRetry],
                            dead: Sequence[tuple[PushClaim, str]], now: datetime) -> None:
        await self._transaction(_finish_pushes, delivered, retry, dead, now)

    async def pending_pushes(self, account_id: int | None = None) -> int:
        query = select(func.count()).select_from(push_items)
        if account_id is not None:
            query = query.where(push_items.c.account_id == account_id)
        async with self._read() as conn:
            return int(await conn.scalar(query) or 0)

    # The pull queue

    async def receive_queue(self, account_id: int, topic: str, now: datetime, limit: int,
                            visibility: timedelta) -> list[QueueItem]:
        return await self._transaction(_receive, account_id, topic, now, limit,
                                       now + visibility)

    async def ack_queue(self, account_id: int, ids: Sequence[int]) -> int:
        """Delete received items of the account; returns how many existed."""
        async with self._write() as conn:
            result = await conn.execute(delete(push_items).where(
                push_items.c.account_id == account_id, push_items.c.id.in_(list(ids))))
        return int(result.rowcount or 0)


def _claim_pushes(conn: Connection, now: datetime, limit: int,
                  until: datetime) -> list[PushClaim]:
    sql = hot_sql(conn.dialect.name == "postgresql")
    at = sql.ts(now)
    rows = conn.exec_driver_sql(sql.place(
        f"SELECT i.id, i.account_id, i.topic, i.message_id, i.payload, i.attempts, "
        f"i.created_at, {_URL_OF_TOPIC}, e.secret FROM push_items i "
        f"JOIN push_endpoints e ON e.account_id = i.account_id "
        f"WHERE {_DUE} AND {_URL_OF_TOPIC} LIKE 'http%' AND {_IN_ORDER} "
        f"ORDER BY i.id LIMIT ?" + (" FOR UPDATE OF i SKIP LOCKED" if sql.lock else "")),
        (at, at, limit)).all()
    if rows:
        conn.exec_driver_sql(sql.place("UPDATE push_items SET claimed_until = ? WHERE id = ?"),
                             [(sql.ts(until), r[0]) for r in rows])
    return [PushClaim(r[0], r[1], r[2], r[3], r[4], r[5], sql.read_ts(r[6]), r[7], r[8])
            for r in rows]


def _finish_pushes(conn: Connection, delivered: Sequence[int], retry: Sequence[PushRetry],
                   dead: Sequence[tuple[PushClaim, str]], now: datetime) -> None:
    sql = hot_sql(conn.dialect.name == "postgresql")
    gone = [(i,) for i in delivered] + [(c.id,) for c, _ in dead]
    if gone:
        conn.exec_driver_sql(sql.place("DELETE FROM push_items WHERE id = ?"), gone)
    if retry:
        conn.exec_driver_sql(sql.place(
            "UPDATE push_items SET attempts = ?, available_at = ?, claimed_until = NULL, "
            "last_error = ? WHERE id = ?"),
            [(r.attempts, sql.ts(r.available_at), r.error, r.id) for r in retry])
    if dead:
        conn.execute(insert(dead_letters), [{
            "stage": PUSH, "created_at": now, "error": error,
            "payload": {"topic": PUSH, "message_id": c.message_id, "item": {
                "account_id": c.account_id, "topic": c.topic, "message_id": c.message_id,
                "payload": c.payload, "attempts": c.attempts, "url": c.url}}}
            for c, error in dead])


def _receive(conn: Connection, account_id: int, topic: str, now: datetime, limit: int,
             until: datetime) -> list[QueueItem]:
    sql = hot_sql(conn.dialect.name == "postgresql")
    at = sql.ts(now)
    rows = conn.exec_driver_sql(sql.place(
        f"SELECT i.id, i.topic, i.payload, i.attempts FROM push_items i "
        f"WHERE i.account_id = ? AND i.topic = ? AND {_DUE} AND {_IN_ORDER} "
        f"ORDER BY i.id LIMIT ?" + (" FOR UPDATE OF i SKIP LOCKED" if sql.lock else "")),
        (account_id, topic, at, at, limit)).all()
    if rows:
        conn.exec_driver_sql(sql.place(
            "UPDATE push_items SET claimed_until = ?, attempts = attempts + 1 WHERE id = ?"),
            [(sql.ts(until), r[0]) for r in rows])
    return [QueueItem(r[0], r[1], r[2], r[3] + 1, until) for r in rows]


__all__ = ["PushMixin"]
