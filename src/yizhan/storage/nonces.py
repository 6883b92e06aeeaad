"""Signature nonces in the SQL store, shared by every API process on the same store.

`remember_nonces` records a batch and tells which were new; a (key, nonce) pair seen
before, in this batch or an earlier one, is a replay. Rows older than the replay window are
purged as new ones arrive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete

from yizhan.storage.messages import _dollar_placeholders, _naive_utc, _sqlite_text
from yizhan.storage.tables import nonces

NONCE_WINDOW = timedelta(minutes=30)
PURGE_EVERY = timedelta(minutes=1)


class NoncesMixin:
    is_postgres: bool
    _transaction: Callable[..., Awaitable[Any]]
    _last_nonce_purge: datetime | None = None

    async def remember_nonce(self, key_id: str, nonce: str, now: datetime) -> bool:
        return (key_id, nonce) in await self.remember_nonces([(key_id, nonce)], now)

    async def remember_nonces(self, items: Sequence[tuple[str, str]],
                              now: datetime) -> set[tuple[str, str]]:
        """Record the pairs; returns those that were new (first occurrence only)."""
        fresh: set[tuple[str, str]] = await self._transaction(
            self._remember, list(dict.fromkeys(items)), now, self._nonce_purge_due(now))
        return fresh

    def _nonce_purge_due(self, now: datetime) -> bool:
        """True at most once per `PURGE_EVERY`: the next nonce transaction purges."""
        if self._last_nonce_purge is not None and now - self._last_nonce_purge <= PURGE_EVERY:
            return False
        self._last_nonce_purge = now
        return True

    def _remember(self, conn: Connection, unique: list[tuple[str, str]], now: datetime,
                  purge: bool) -> set[tuple[str, str]]:
        if purge:
            conn.execute(delete(nonces).where(nonces.c.seen_at < now - NONCE_WINDOW))
        # One statement per batch: the rows the insert did not skip are the new nonces.
        seen_at = _naive_utc(now) if self.is_postgres else _sqlite_text(now)
        sql = ("INSERT INTO nonces (access_key_id, nonce, seen_at) VALUES "
               + ", ".join(["(?, ?, ?)"] * len(unique))
               + " ON CONFLICT DO NOTHING RETURNING access_key_id, nonce")
        if self.is_postgres:
            sql = _dollar_placeholders(sql)
        params = tuple(value for key_id, nonce in unique for value in (key_id, nonce, seen_at))
        return {(row[0], row[1]) for row in conn.exec_driver_sql(sql, params).all()}
