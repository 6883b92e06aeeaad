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

Reads (the Query actions) do not wait for a write with the window: `decide_read_nonce`
decides at once in memory and the pair is written to `nonce_log` afterwards
(`save_read_nonces`, or with the next send's nonces). A signed read must not queue behind
message writes (it did: 284 ms p50 while delivery ran, against 17-25 ms idle). The
trade-off: a read's nonce is not yet durable when the read is answered, so after a crash in
that instant a replay of that read within 30 minutes would be answered again. A read
changes nothing, and a replay only returns what its signer was already shown; a send's
nonce stays durable with its messages (docs/architecture.md, "A signed read does not
wait for the write path").
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from itertools import takewhile
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.storage.sql import dollar_placeholders, insert_rows, naive_utc, sqlite_text
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
        self._unsaved: list[tuple[Pair, datetime]] = []
        # The writer thread decides for sends, the event loop for reads: one at a time.
        self._lock = threading.Lock()

    def fresh(self, unique: Sequence[Pair], now: datetime) -> list[Pair]:
        """Add the pairs not seen within the window; return them."""
        with self._lock:
            new = [pair for pair in unique if self._add(pair, now)]
        self._added.extend(new)
        return new

    def fresh_read(self, pair: Pair, now: datetime) -> bool:
        """Add a read's pair if not seen within the window (True), to be saved later."""
        with self._lock:
            if not self._add(pair, now):
                return False
            self._unsaved.append((pair, now))
            return True

    def _add(self, pair: Pair, now: datetime) -> bool:
        seen = self.seen
        at = seen.get(pair)
        if at is not None:
            if at >= now - NONCE_WINDOW:
                return False  # a replay
            del seen[pair]  # (seen again after the window: moves to the end)
        seen[pair] = now
        return True

    def take_unsaved(self) -> list[tuple[Pair, datetime]]:
        """The reads' pairs not yet written to `nonce_log` (now the caller's to write)."""
        with self._lock:
            taken, self._unsaved = self._unsaved, []
        return taken

    @property
    def unsaved(self) -> bool:
        return bool(self._unsaved)

    def forget_before(self, cutoff: datetime) -> None:
        """Drop the pairs seen before `cutoff`: the oldest ones, so only they are walked."""
        with self._lock:
            seen = self.seen
            for pair in [pair for pair, _ in takewhile(lambda item: item[1] < cutoff,
                                                       seen.items())]:
                del seen[pair]

    def committed(self) -> None:
        self._added.clear()

    def rolled_back(self) -> None:
        with self._lock:
            for pair in self._added:
                self.seen.pop(pair, None)
        self._added.clear()


class NoncesMixin:
    is_postgres: bool
    _transaction: Callable[..., Awaitable[Any]]
    _urgent_transaction: Callable[..., Awaitable[Any]]
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
        fresh: set[tuple[str, str]] = await self._urgent_transaction(
            self._remember, list(dict.fromkeys(items)), now, self._nonce_purge_due(now))
        return fresh

    def decide_read_nonce(self, key_id: str, nonce: str, now: datetime) -> bool | None:
        """For a read: decide at once in memory whether the pair is new (see the module's
        text); None when this store has no window (the nonce table decides)."""
        window = self.nonce_window
        return None if window is None else window.fresh_read((key_id, nonce), now)

    def unsaved_read_nonces(self) -> bool:
        return self.nonce_window is not None and self.nonce_window.unsaved

    async def save_read_nonces(self) -> None:
        """Write the reads' pairs decided in memory to `nonce_log` (a background write)."""
        if self.unsaved_read_nonces():
            await self._transaction(self._save_unsaved)

    def _save_unsaved(self, conn: Connection) -> None:
        assert self.nonce_window is not None
        self._log_nonces(conn, self.nonce_window.take_unsaved())

    def _log_nonces(self, conn: Connection, rows: Sequence[tuple[Pair, datetime]]) -> None:
        text = naive_utc if self.is_postgres else sqlite_text
        insert_rows(conn, self.is_postgres,
                    "INSERT INTO nonce_log (access_key_id, nonce, seen_at)", "(?, ?, ?)",
                    [(key_id, nonce, text(at)) for (key_id, nonce), at in rows])

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
        seen_at = naive_utc(now) if self.is_postgres else sqlite_text(now)
        sql = ("INSERT INTO nonces (access_key_id, nonce, seen_at) VALUES "
               + ", ".join(["(?, ?, ?)"] * len(unique))
               + " ON CONFLICT DO NOTHING RETURNING access_key_id, nonce")
        if self.is_postgres:
            sql = dollar_placeholders(sql)
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
        # The reads' pairs decided since the last write go along.
        self._log_nonces(conn, [(pair, now) for pair in new] + window.take_unsaved())
        return set(new)
