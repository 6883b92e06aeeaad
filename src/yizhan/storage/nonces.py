"""Signature nonces in the SQL store, shared by every API process on the same store.

`remember_nonces` records a batch and tells which were new; a (key, nonce) pair seen
before, in this batch or an earlier one, is a replay. Rows older than the replay window are
purged as new ones arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.storage.tables import nonces

NONCE_WINDOW = timedelta(minutes=30)
PURGE_EVERY = timedelta(minutes=1)


class NoncesMixin:
    is_postgres: bool
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _last_nonce_purge: datetime | None = None

    async def remember_nonce(self, key_id: str, nonce: str, now: datetime) -> bool:
        return (key_id, nonce) in await self.remember_nonces([(key_id, nonce)], now)

    async def remember_nonces(self, items: Sequence[tuple[str, str]],
                              now: datetime) -> set[tuple[str, str]]:
        """Record the pairs; returns those that were new (first occurrence only)."""
        unique = list(dict.fromkeys(items))
        insert = pg_insert if self.is_postgres else sqlite_insert
        async with self._write() as conn:
            if self._last_nonce_purge is None or now - self._last_nonce_purge > PURGE_EVERY:
                await conn.execute(delete(nonces).where(nonces.c.seen_at < now - NONCE_WINDOW))
                self._last_nonce_purge = now
            seen = {(r.access_key_id, r.nonce) for r in (await conn.execute(
                select(nonces.c.access_key_id, nonces.c.nonce).where(
                    tuple_(nonces.c.access_key_id, nonces.c.nonce).in_(unique)))).all()}
            new = [pair for pair in unique if pair not in seen]
            if new:
                await conn.execute(insert(nonces).on_conflict_do_nothing(), [
                    {"access_key_id": k, "nonce": n, "seen_at": now} for k, n in new])
        return set(new)
