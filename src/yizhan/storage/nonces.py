"""Signature nonces in the SQL store, shared by every API process on the same store.

`remember_nonces` records a batch and tells which were new; a (key, nonce) pair seen
before, in this batch or an earlier one, is a replay. Rows older than the replay window are
purged as new ones arrive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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
        purge = self._last_nonce_purge is None or now - self._last_nonce_purge > PURGE_EVERY
        if purge:
            self._last_nonce_purge = now
        fresh: set[tuple[str, str]] = await self._transaction(
            self._remember, list(dict.fromkeys(items)), now, purge)
        return fresh

    def _remember(self, conn: Connection, unique: list[tuple[str, str]], now: datetime,
                  purge: bool) -> set[tuple[str, str]]:
        if purge:
            conn.execute(delete(nonces).where(nonces.c.seen_at < now - NONCE_WINDOW))
        by_key: dict[str, list[str]] = {}
        for key_id, nonce in unique:
            by_key.setdefault(key_id, []).append(nonce)
        seen: set[tuple[str, str]] = set()
        for key_id, batch in by_key.items():  # key = and nonce IN: the primary key's index
            seen.update((key_id, n) for n in conn.execute(
                select(nonces.c.nonce).where(nonces.c.access_key_id == key_id,
                                             nonces.c.nonce.in_(batch))).scalars())
        new = [pair for pair in unique if pair not in seen]
        if new:
            insert = pg_insert if self.is_postgres else sqlite_insert
            conn.execute(insert(nonces).on_conflict_do_nothing(), [
                {"access_key_id": k, "nonce": n, "seen_at": now} for k, n in new])
        return set(new)
