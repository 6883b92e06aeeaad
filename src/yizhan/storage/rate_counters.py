"""The embedded `RateCounter`: this process decides, the store remembers.

For the embedded deployment (one process accepts messages; SQLite by default). The windows
live in memory (`domain/rates.Windows`) and are authoritative: a decision is a few dict
operations, made without awaiting anything, so it is atomic in the event loop and costs
microseconds instead of a transaction. They are persisted in the acceptance transaction
itself: `committing` wraps the store's `accept` so that every group commit also appends one
row to `rate_counter_log` holding the entries of the keys changed since the previous commit
(an emptied key as 0). A message's count is therefore never committed after the message (it
goes in the same or an earlier transaction), a failed commit puts its keys back to be
written with the next one, and after a restart (or a crash) `open` reads the windows back:
limits survive restarts, and a crash can only over-count, never under-count.

One appended row per commit, not a row per key: a 1000-number request changes 2,000 keys,
and writing them as rows cost about 8.5 µs per number (building the rows, then SQLite
updating them), a third of the whole request; encoded into one row it costs under 1 µs
(docs/benchmarks.md, "Round 6"). A log row is purged a day after it was written, when every
window it holds has ended; `open` replays the day's rows in order (a later entry of a key
replaces an earlier one). The `rate_counters` table of earlier versions (a row per key) is
still read first and purged as its windows end.

This counter must be the only one deciding for its store: a second process accepting
messages on the same store needs the Redis backend (docs/frequency.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection

from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import Message, SignatureNonce
from yizhan.domain.rates import (
    Admitted,
    Blocked,
    RateCheck,
    Shape,
    WindowCount,
    Windows,
    entry_end,
    pack,
)
from yizhan.domain.tasks import TaskChunk
from yizhan.storage.sql import dollar_placeholders
from yizhan.storage.store import SqlStore

PURGE_EVERY_MS = 60_000
KEPT_MS = 86_400_000
"""How long a log row is kept: every window it holds ends within a day of its writing (a
day window opens at the latest when its key is written)."""

_APPEND = "INSERT INTO rate_counter_log (id, written_at, entries) VALUES (?, ?, ?)"
_PURGE = ("DELETE FROM rate_counter_log WHERE written_at <= ?",
          "DELETE FROM rate_counters WHERE expires_at <= ?")
_LOAD_ROWS = ("SELECT id, key, minute_start, minute_count, hour_start, hour_count, day_start, "
              "day_count FROM rate_counters WHERE expires_at > ?")
_LOAD_LOG = "SELECT entries FROM rate_counter_log WHERE written_at > ? ORDER BY id"

Accept = Callable[..., Awaitable[Sequence[Any] | None]]
Acceptance = Message | SignatureNonce | TaskChunk


def encode(entries: dict[str, int]) -> bytes:
    """Keys and entries as JSON: `[[key, ...], [hex entry, ...]]` (an entry has up to 160
    bits, more than JSON integers carry)."""
    return orjson.dumps([list(entries), list(map(hex, entries.values()))])


def decode(blob: bytes) -> dict[str, int]:
    keys, entries = orjson.loads(blob)
    return dict(zip(keys, [int(e, 16) for e in entries], strict=True))


class _Changes:
    """What one commit writes (taken in the event loop, written in the store's writer
    thread): the log row of the changed keys, and the purge when one is due."""

    def __init__(self, row: tuple[int, int, bytes] | None, purge_before: int | None,
                 postgres: bool) -> None:
        self.row, self.purge_before = row, purge_before
        place = dollar_placeholders if postgres else str
        self._append = place(_APPEND)
        self._purge = tuple(place(q) for q in _PURGE)

    def __bool__(self) -> bool:
        return self.row is not None or self.purge_before is not None

    def write(self, conn: Connection) -> None:
        if self.purge_before is not None:
            conn.exec_driver_sql(self._purge[0], (self.purge_before - KEPT_MS,))
            conn.exec_driver_sql(self._purge[1], (self.purge_before,))
        if self.row is not None:
            conn.exec_driver_sql(self._append, self.row)


class SqlRateCounter:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._ids = IdGenerator()
        """Log row ids: time-ordered, so rows append and replay in order, and unique across
        processes (the CLI's `yizhan send` writes rows too)."""
        self._windows = Windows()
        self._latest_ms = 0
        self._purged_ms = 0

    @classmethod
    async def open(cls, store: SqlStore, now_ms: int) -> SqlRateCounter:
        """Read back the windows still open at `now_ms`."""
        counter = cls(store)
        place = dollar_placeholders if store.is_postgres else str
        state = counter._windows.state
        async with store._read() as conn:
            rows: list[Any] = list(await conn.exec_driver_sql(place(_LOAD_ROWS), (now_ms,)))
            for r in rows:
                m_start, m_count, h_start, h_count, d_start, d_count = map(int, r[2:8])
                state[r[1]] = pack(0, m_start, m_count, h_start, h_count, d_start, d_count)
            log = await conn.exec_driver_sql(place(_LOAD_LOG), (now_ms - KEPT_MS,))
            for (blob,) in log:
                state.update(decode(bytes(blob)))
        for key in [k for k, entry in state.items() if entry_end(entry) <= now_ms]:
            del state[key]  # emptied (0) or over
        counter._latest_ms = counter._purged_ms = now_ms
        return counter

    async def admit(self, messages: Sequence[Sequence[RateCheck]],
                    now_ms: int) -> list[Blocked | None]:
        if now_ms > self._latest_ms:
            self._latest_ms = now_ms
        admit = self._windows.admit
        return [admit(checks, now_ms) for checks in messages]

    async def decide(self, messages: Sequence[Sequence[RateCheck]],
                     now_ms: int) -> list[Blocked | Admitted]:
        if now_ms > self._latest_ms:
            self._latest_ms = now_ms
        decide = self._windows.decide
        return [decide(checks, now_ms) for checks in messages]

    def admit_keys(self, shape: Shape, keys: Sequence[str], now_ms: int) -> Blocked | None:
        """One message given as its keys and their shape (`Windows.admit_keys`): the short
        way for messages under the platform's limits alone. Synchronous, hence atomic."""
        if now_ms > self._latest_ms:
            self._latest_ms = now_ms
        return self._windows.admit_keys(shape, keys, now_ms)

    def decide_keys(self, shape: Shape, keys: Sequence[str], now_ms: int,
                    ) -> Blocked | Admitted | None:
        """`admit_keys` answering what the checks saw (`Windows.decide_keys`; None: every
        key was new)."""
        if now_ms > self._latest_ms:
            self._latest_ms = now_ms
        return self._windows.decide_keys(shape, keys, now_ms)

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
            keys, changes = self._take()
            try:
                return await accept(batch, also=changes.write if changes else None)
            except BaseException:  # written with the next commit, as they are then
                self._windows.dirty.update(keys)
                raise
        return flush

    async def close(self) -> None:
        """Write what changed since the last commit (a clean stop loses nothing)."""
        _, changes = self._take()
        if changes:
            await self._store._transaction(changes.write)

    def _take(self) -> tuple[set[str], _Changes]:
        windows = self._windows
        purge_before = None
        if self._latest_ms - self._purged_ms >= PURGE_EVERY_MS:
            purge_before = self._purged_ms = self._latest_ms
            windows.forget_before(purge_before)
        keys, windows.dirty = windows.dirty, set()
        windows.dropped.clear()  # (the rows of `rate_counters`: the log's 0 replaces them)
        row = None
        if keys:
            get = windows.state.get
            entries = {key: get(key, 0) for key in keys}  # (row references are all 0)
            [row_id] = self._ids.next_ids(1)
            row = (row_id, self._latest_ms, encode(entries))
        return keys, _Changes(row, purge_before, self._store.is_postgres)

