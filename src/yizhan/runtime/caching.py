"""A small time-bounded cache for the hot path's read-mostly lookups (AccessKeys, accounts,
signatures, templates), so that a send does not read them from the store every time.

Entries live `ttl` seconds (default 1) on the injected clock: a change made anywhere (CLI,
another process, review) takes effect within that time. Absent results are cached too, so
unknown names cannot be used to hammer the store. Nothing that must hold across processes (counters,
balances) is ever cached here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from yizhan.domain.ports import Clock

log = logging.getLogger("yizhan.runtime.caching")
AHEAD = 0.25
"""An entry used in the last quarter of its life is read again in the background, while
the requests go on with it: under steady traffic no request waits for a read (a request
that found an entry expired waited for it: the p99 of verification codes beside a send
task, docs/benchmarks.md). A value so read is at most `ttl` old when last used."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, load: Callable[[K], Awaitable[V]], clock: Clock, ttl: float = 1.0,
                 max_entries: int = 100_000) -> None:
        self._load = load
        self._monotonic = clock.monotonic
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def forget(self, key: K) -> None:
        """Drop an entry: the next `get` reads it again (a change made in this process)."""
        self._entries.pop(key, None)

    def fresh(self, key: K) -> V | None:
        """The value if it is cached and fresh, without awaiting (None: call `get`)."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > self._monotonic() else None

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is not None:
            left = entry[0] - self._monotonic()
            if left > 0:
                if left < self._ttl * AHEAD and key not in self._loading:
                    self._start(key)  # read again in the background (`AHEAD`)
                return entry[1]
        # One load per key at a time: when an entry expires under load, the concurrent
        # requests share the same read instead of each opening a connection.
        pending = self._loading.get(key)
        return await asyncio.shield(pending if pending is not None else self._start(key))

    def _start(self, key: K) -> asyncio.Future[V]:
        """Load `key` in a task of its own; its future resolves with the value (or the
        error, which only the requests awaiting it see: a read ahead that fails is
        logged, and the entry expires as it would have)."""
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future

        async def load() -> None:
            try:
                value = await self._load(key)
            except BaseException as exc:
                if not isinstance(exc, Exception):  # cancelled (a stop): so are its waiters
                    future.cancel()
                    raise
                log.warning("loading %r failed", key, exc_info=True)
                future.set_exception(exc)
                future.exception()  # retrieved: waiters get it, nobody else must
                return
            finally:
                del self._loading[key]
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (self._monotonic() + self._ttl, value)
            future.set_result(value)

        task = asyncio.create_task(load())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future
