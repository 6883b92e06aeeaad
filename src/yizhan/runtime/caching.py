"""A small time-bounded cache for the hot path's read-mostly lookups (AccessKeys, accounts,
signatures, templates), so that a send does not read them from the store every time.

Entries live `ttl` seconds (default 1) on the injected clock: a change made anywhere (CLI,
another process, review) takes effect within that time. Absent results are cached too, so
unknown names cannot be used to hammer the store. Nothing that must hold across processes (counters,
balances) is ever cached here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from yizhan.domain.ports import Clock

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

    def forget(self, key: K) -> None:
        """Drop an entry: the next `get` reads it again (a change made in this process)."""
        self._entries.pop(key, None)

    def fresh(self, key: K) -> V | None:
        """The value if it is cached and fresh, without awaiting (None: call `get`)."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > self._monotonic() else None

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._monotonic():
            return entry[1]
        # One load per key at a time: when an entry expires under load, the concurrent
        # requests share the same read instead of each opening a connection.
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await self._load(key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._loading[key]
        future.set_result(value)
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (self._monotonic() + self._ttl, value)
        return value
