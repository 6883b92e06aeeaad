"""The 72-hour rule (docs/domain.md, "Delivery, receipts, records"): a message still waiting for
its receipt `wait` after its submit becomes unknown.

Each run turns the overdue messages into unknown in batches (the store writes statistics
and the SmsReport in the same transaction). A receipt that comes later is stored but does
not change the final state: the receipt stage only updates waiting messages.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from yizhan.domain.ports import Clock
from yizhan.runtime.periodic import Periodic

log = logging.getLogger("yizhan.sweeper")


class SweepStore(Protocol):
    async def sweep_waiting(self, cutoff: datetime, now: datetime, limit: int = 1000,
                            hours: float = 72) -> int: ...


class Sweeper(Periodic):
    def __init__(self, store: SweepStore, clock: Clock, wait: timedelta, every: float,
                 batch: int = 1000) -> None:
        super().__init__("sweeper", self.sweep, every, log)
        self._store = store
        self._clock = clock
        self._wait = wait
        self._batch = batch

    async def sweep(self) -> int:
        """Resolve every overdue message; returns how many."""
        total = 0
        hours = self._wait.total_seconds() / 3600
        while True:
            now = self._clock.now()
            done = await self._store.sweep_waiting(now - self._wait, now, self._batch, hours)
            total += done
            if done < self._batch:
                break
        if total:
            log.info("%d messages had no receipt within %g hours: status unknown", total, hours)
        return total
