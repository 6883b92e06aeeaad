"""Signature nonces in the SQL store, shared by every API process on the same store.

`remember_nonces` records a batch and tells which were new; a (key, nonce) pair seen
before, in this batch or an earlier one, is a replay. Rows older than the replay window are
purged as new ones arrive.

Two ways to remember, decided in the transaction that records them (for sends, the one that
accepts the messages):
- `nonces`, a table whose primary key is the pair: the database decides (an insert that
  skips existing pairs), so any number of processes share it. Its key is random, so every
  nonce dirties a page of the index: a third of the writer's work for a one-number send.
- `NonceWindow` (`use_nonce_window`), for the deployment in which one process accepts signed
  requests (`rate_backend = "sql"`, which the frequency counters already require): the pairs
  of the last 30 minutes in memory decide, in the store's writer thread (so one decision at
  a time), and new pairs are appended to `nonce_log`, which a start reads back. A
  transaction that fails takes its pairs back out of the window.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from itertools import takewhile
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.storage.messages import _dollar_placeholders, _naive_utc, _sqlite_text, insert_rows
from yizhan.storage.tables import nonce_log, nonces

NONCE_WINDOW = timedelta(minutes=30)
PURGE_EVERY = timedelta(minutes=1)


Pair = tuple[str, str]


class NonceWindow:
    """The pairs seen in the last `NONCE_WINDOW`, oldest first, and those the transaction
    under way added (taken back if it fails). Used from the writer thread only."""

    def __init__(self) -> None:
        self.seen: dict[Pair, datetime] = {}
        self._added: list[Pair] = []

    def fresh(self, unique: Sequence[Pair], now: datetime) -> list[Pair]:
        """Add the pairs not seen within the window; return them."""
        cutoff = now - NONCE_WINDOW
        seen, new = self.seen, []
        for pair in unique:
            at = seen.get(pair)
            if at is not None:
                if at >= cutoff:
                    continue  # a replay
                del seen[pair]  # (seen again after the window: moves to the end)
            seen[pair] = now
            new.append(pair)
        self._added.extend(new)
        return new

    def forget_before(self, cutoff: datetime) -> None:
        """Drop the pairs seen before `cutoff`: the oldest ones, so only they are walked."""
        seen = self.seen
        for pair in [pair for pair, _ in takewhile(lambda item: item[1] < cutoff,
                                                   seen.items())]:
            del seen[pair]

    def committed(self) -> None:
        self._added.clear()

    def rolled_back(self) -> None:
        for pair in self._added:
            self.seen.pop(pair, None)
        self._added.clear()


class NoncesMixin:
    is_postgres: bool
    _transaction: Callable[..., Awaitable[Any]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _writer_thread: Any
    _last_nonce_purge: datetime | None = None
    nonce_window: NonceWindow | None = None

    async def use_nonce_window(self, now: datetime) -> bool:
        """Decide on nonces in memory from now on (see the module's text): only when this
        process is the one that accepts signed requests on this store, and only for a
        SQLite file, whose transactions run in one writer thread (False: not used). Reads
        back the pairs of the window, from `nonce_log` and from `nonces`."""
        if self._writer_thread is None:
            return False
        window = NonceWindow()
        cutoff = now - NONCE_WINDOW
        async with self._read() as conn:
            for table in (nonces, nonce_log):
                rows = await conn.execute(
                    select(table.c.access_key_id, table.c.nonce, table.c.seen_at)
                    .where(table.c.seen_at >= cutoff).order_by(table.c.seen_at))
                for key_id, nonce, seen_at in rows:
                    window.seen[key_id, nonce] = seen_at
        window.seen = dict(sorted(window.seen.items(), key=lambda item: item[1]))
        self.nonce_window = window
        return True

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
        if self.nonce_window is not None:
            return self._remember_in_window(conn, self.nonce_window, unique, now, purge)
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

    def _remember_in_window(self, conn: Connection, window: NonceWindow, unique: list[Pair],
                            now: datetime, purge: bool) -> set[Pair]:
        if purge:
            cutoff = now - NONCE_WINDOW
            conn.execute(delete(nonces).where(nonces.c.seen_at < cutoff))
            conn.execute(delete(nonce_log).where(nonce_log.c.seen_at < cutoff))
            window.forget_before(cutoff)
        new = window.fresh(unique, now)
        if new:
            seen_at = _naive_utc(now) if self.is_postgres else _sqlite_text(now)
            insert_rows(conn, self.is_postgres,
                        "INSERT INTO nonce_log (access_key_id, nonce, seen_at)", "(?, ?, ?)",
                        [(key_id, nonce, seen_at) for key_id, nonce in new])
        return set(new)
