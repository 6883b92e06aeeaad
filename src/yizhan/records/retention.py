"""Retention (docs/domain.md: records are kept three years by default, configurable): a purge
that deletes records older than `keep` in small batches.

Each batch is one short transaction (at most `batch` rows of each kind), and the purge
yields for `pause` seconds between batches, so that sends and receipts wait behind it for
one small delete at most instead of one long one. Statistics counters are kept.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from yizhan.domain.ports import Clock
from yizhan.runtime.periodic import Periodic

log = logging.getLogger("yizhan.retention")


class PurgeStore(Protocol):
    async def purge_records(self, cutoff: datetime, limit: int = 1000) -> int: ...


class Purge(Periodic):
    def __init__(self, store: PurgeStore, clock: Clock, keep: timedelta, every: float,
                 batch: int = 1000, pause: float = 0.05) -> None:
        super().__init__("purge", self.purge, every, log)
        self._store = store
        self._clock = clock
        self._keep = keep
        self._batch = batch
        self._pause = pause

    async def purge(self) -> int:
        """Delete everything older than the retention; returns how many rows went."""
        cutoff = self._clock.now() - self._keep
        total = 0
        while True:
            gone = await self._store.purge_records(cutoff, self._batch)
            total += gone
            if gone == 0:
                break
            await self._clock.sleep(self._pause)
        if total:
            log.info("purged %d records older than %s", total, cutoff.date().isoformat())
        return total
