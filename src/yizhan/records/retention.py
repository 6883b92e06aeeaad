"""Retention (docs/domain.md: records are kept three years by default, configurable): a purge
that deletes records older than `keep` in small batches.

Each batch is one short transaction (at most `batch` rows of each kind), and the purge
yields for `pause` seconds between batches, so that sends and receipts wait behind it for
one small delete at most instead of one long one. Statistics counters are kept. The API
call log (`api_calls`) is purged by a second `Purge` with its own retention.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from yizhan.domain.ports import Clock
from yizhan.runtime.periodic import Periodic

log = logging.getLogger("yizhan.retention")


class PurgeStore(Protocol):
    async def purge_records(self, cutoff: datetime, limit: int = 1000) -> int: ...


class Purge(Periodic):
    def __init__(self, store: PurgeStore, clock: Clock, keep: timedelta, every: float,
                 batch: int = 1000, pause: float = 0.05, *,
                 delete: Callable[[datetime, int], Awaitable[int]] | None = None,
                 what: str = "records") -> None:
        """`delete`: what one batch deletes (default the store's `purge_records`); the API
        call log has its own purge with its own retention (`purge_calls`)."""
        super().__init__(f"purge of {what}", self.purge, every, log)
        self._delete = delete or store.purge_records
        self._what = what
        self._clock = clock
        self._keep = keep
        self._batch = batch
        self._pause = pause

    async def purge(self) -> int:
        """Delete everything older than the retention; returns how many rows went."""
        cutoff = self._clock.now() - self._keep
        total = 0
        while True:
            gone = await self._delete(cutoff, self._batch)
            total += gone
            if gone == 0:
                break
            await self._clock.sleep(self._pause)
        if total:
            log.info("purged %d %s older than %s", total, self._what,
                     cutoff.date().isoformat())
        return total
