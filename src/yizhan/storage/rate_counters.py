"""The embedded `RateCounter`: this process decides, the store remembers.

For the embedded deployment (one process accepts messages; SQLite by default). The windows
live in memory (`domain/rates.Windows`) and are authoritative: a decision is a few dict
operations, made without awaiting anything, so it is atomic in the event loop and costs
microseconds instead of a transaction. They are persisted in the acceptance transaction
itself: `committing` wraps the store's `accept` so that every group commit also writes the
keys changed since the previous one (one row per key with its minute, hour and day windows;
a key's row is numbered when the key first counts, so new rows append). A message's count
is therefore never committed after the message (it goes in the same or an earlier
transaction), a failed commit puts its counters back to be written with the next one, and
after a restart (or a crash) `open` reads the windows back: limits survive restarts, and a
crash can only over-count, never under-count.

This counter must be the only one deciding for its store: a second process accepting
messages on the same store needs the Redis backend (docs/frequency.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import Message, SignatureNonce
from yizhan.domain.rates import (
    ROW_SHIFT,
    Blocked,
    RateCheck,
    WindowCount,
    Windows,
    pack,
    persisted,
    with_row,
)
from yizhan.storage.messages import _dollar_placeholders
from yizhan.storage.store import SqlStore

PURGE_EVERY_MS = 60_000

_COLUMNS = ("id, key, minute_start, minute_count, hour_start, hour_count, day_start, "
            "day_count, expires_at")
_UPSERT = (f"INSERT INTO rate_counters ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (id) DO UPDATE SET minute_start = excluded.minute_start, "
           "minute_count = excluded.minute_count, hour_start = excluded.hour_start, "
           "hour_count = excluded.hour_count, day_start = excluded.day_start, "
           "day_count = excluded.day_count, expires_at = excluded.expires_at")
_DELETE = "DELETE FROM rate_counters WHERE id = ?"
_PURGE = "DELETE FROM rate_counters WHERE expires_at <= ?"
_LOAD = f"SELECT {_COLUMNS} FROM rate_counters WHERE expires_at > ? ORDER BY id"

Accept = Callable[..., Awaitable[Sequence[Any] | None]]
Row = tuple[int, str, int, int, int, int, int, int, int]
Acceptance = Message | SignatureNonce


class _Changes:
    """Counter rows to write in one transaction (taken in the event loop, written in the
    store's writer thread): each changed key's row as it is now, emptied keys deleted."""

    def __init__(self, rows: list[Row], gone: list[tuple[int]], purge_before: int | None,
                 postgres: bool) -> None:
        self.rows, self.gone, self.purge_before = rows, gone, purge_before
        place = _dollar_placeholders if postgres else str
        self._sql = tuple(place(q) for q in (_UPSERT, _DELETE, _PURGE))

    def __bool__(self) -> bool:
        return bool(self.rows or self.gone) or self.purge_before is not None

    def write(self, conn: Connection) -> None:
        upsert, delete, purge = self._sql
        if self.purge_before is not None:
            conn.exec_driver_sql(purge, (self.purge_before,))
        if self.rows:
            conn.exec_driver_sql(upsert, self.rows)
        if self.gone:
            conn.exec_driver_sql(delete, self.gone)


class SqlRateCounter:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._ids = IdGenerator()
        """Row ids: time-ordered, so rows append, and unique across processes (the CLI's
        `yizhan send` writes rows too)."""
        self._windows = Windows()
        self._latest_ms = 0
        self._purged_ms = 0

    @classmethod
    async def open(cls, store: SqlStore, now_ms: int) -> SqlRateCounter:
        """Read back the windows still open at `now_ms`."""
        counter = cls(store)
        place = _dollar_placeholders if store.is_postgres else str
        async with store._read() as conn:
            rows: list[Any] = list(await conn.exec_driver_sql(place(_LOAD), (now_ms,)))
        counter._windows.state = {r[1]: pack(*(int(v) for v in (r[0], *r[2:8]))) for r in rows}
        counter._latest_ms = counter._purged_ms = now_ms
        return counter

    async def admit(self, messages: Sequence[Sequence[RateCheck]],
                    now_ms: int) -> list[Blocked | None]:
        if now_ms > self._latest_ms:
            self._latest_ms = now_ms
        admit = self._windows.admit
        return [admit(checks, now_ms) for checks in messages]

    async def release(self, messages: Sequence[Sequence[RateCheck]], admitted_ms: int) -> None:
        for checks in messages:
            self._windows.release(checks, admitted_ms)

    async def peek(self, checks: Sequence[RateCheck], now_ms: int) -> list[WindowCount]:
        return self._windows.peek(checks, now_ms)

    def committing(self, accept: Accept) -> Callable[[Sequence[Acceptance]],
                                                      Awaitable[Sequence[Any] | None]]:
        """The group commit's flush: `accept(batch, also=...)` with the changed counters
        written in the same transaction; its per-item results (nonces) are passed on."""
        async def flush(batch: Sequence[Acceptance]) -> Sequence[Any] | None:
            keys, dropped, changes = self._take()
            try:
                return await accept(batch, also=changes.write if changes else None)
            except BaseException:  # written with the next commit, as they are then
                self._windows.dirty.update(keys)
                for key, row in dropped.items():
                    self._windows.dropped.setdefault(key, row)
                raise
        return flush

    async def close(self) -> None:
        """Write what changed since the last commit (a clean stop loses nothing)."""
        _, _, changes = self._take()
        if changes:
            await self._store._transaction(changes.write)

    def _take(self) -> tuple[set[str], dict[str, int], _Changes]:
        windows = self._windows
        purge_before = None
        if self._latest_ms - self._purged_ms >= PURGE_EVERY_MS:
            purge_before = self._purged_ms = self._latest_ms
            windows.forget_before(purge_before)
        keys, windows.dirty = windows.dirty, set()
        dropped, windows.dropped = windows.dropped, {}
        state = windows.state
        rows: list[Row] = []
        new: list[str] = []  # keys first counted since the last commit: numbered together
        for key in keys:
            entry = state.get(key)
            if entry is None:
                continue
            if entry >> ROW_SHIFT:
                rows.append(persisted(key, entry))
            else:
                new.append(key)
        if new:
            for key, row in zip(new, self._ids.next_ids(len(new)), strict=True):
                entry = state[key] = with_row(state[key], row)
                rows.append(persisted(key, entry))
        gone = [(row,) for row in dropped.values()]
        return keys, dropped, _Changes(rows, gone, purge_before, self._store.is_postgres)
