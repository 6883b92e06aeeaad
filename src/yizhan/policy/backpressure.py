"""Backpressure: acceptance cannot run away from delivery.

Consumes readings of the dispatch outbox (how many items wait, and the highest item id
ever given, which counts what entered it); works out the recent delivery rate (what left
the outbox per second over the last `window` seconds) and so the backlog in seconds of
delivery. Past `max_seconds` (and at least `min_messages` waiting), requests of more than
one number are refused with `Throttling` and a retry hint (the seconds until the backlog is
back under the bound at the current rate); one-number sends always pass, so verification
codes are never held back by someone else's bulk (docs/architecture.md, "Backpressure").

The readings come from the store, so every API process on one store sees the same backlog;
a process adds the messages it accepted since its last reading. It is an approximate,
protective rule (like the API rate limit), which is why its state may live in memory.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from yizhan.domain.errors import Refusal
from yizhan.domain.ports import Clock

MAX_HINT = 60
"""The longest retry hint, in seconds (and the hint while nothing is being delivered)."""


class OutboxProgress(Protocol):
    async def outbox_progress(self) -> tuple[int, int]:
        """(items waiting for dispatch, the highest outbox id ever given)."""
        ...


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    waiting: int
    last_id: int


class Backpressure:
    def __init__(self, store: OutboxProgress, clock: Clock, *, max_seconds: float,
                 min_messages: int, window: float = 10.0) -> None:
        self._store = store
        self._clock = clock
        self._max_seconds = max_seconds
        self._min_messages = min_messages
        self._window = window
        self._readings: deque[Reading] = deque()
        self._since = 0
        self._pending = 0
        self.rate: float | None = None
        """Messages leaving the outbox per second lately; None until two readings."""

    @property
    def backlog(self) -> int:
        """Messages waiting for dispatch: the last reading, what this process accepted
        since, and the numbers of its requests under way (let pass, not yet committed)."""
        return ((self._readings[-1].waiting if self._readings else 0) + self._since
                + self._pending)

    async def refresh(self) -> None:
        """Take a reading (run every second by the API's background loop)."""
        since = self._since
        waiting, last_id = await self._store.outbox_progress()
        self._since -= since  # those are counted in the reading now
        reading = Reading(self._clock.now(), waiting, last_id)
        readings = self._readings
        if last_id == 0 or (readings and last_id < readings[-1].last_id):
            # An empty outbox tells no id (nothing waits, so nothing to hold back), or a
            # new store: the rate is measured afresh.
            readings.clear()
            self.rate = None
            if last_id == 0:
                return
        readings.append(reading)
        while len(readings) > 2 and (reading.at - readings[1].at).total_seconds() >= self._window:
            readings.popleft()
        first = readings[0]
        span = (reading.at - first.at).total_seconds()
        if span <= 0:
            return
        left = (reading.last_id - first.last_id) - (reading.waiting - first.waiting)
        self.rate = max(left, 0) / span

    def check(self, numbers: int) -> Refusal | None:
        """None when a request of `numbers` numbers may go on, and then its numbers count
        in the backlog at once, until `settled`: concurrent requests each see those let pass
        before them, not only those committed. Else `Throttling` with the seconds to wait."""
        rate = self.rate
        backlog = self.backlog
        if (numbers > 1 and self._max_seconds > 0 and rate is not None
                and backlog > max(self._min_messages, self._max_seconds * rate)):
            return self._held(backlog, rate)
        self._pending += numbers
        return None

    def settled(self, numbers: int, queued: int) -> None:
        """A request that `check` let pass is answered: `queued` of its messages went on
        the outbox (none when it was refused or failed)."""
        self._pending -= numbers
        self._since += queued

    def _held(self, backlog: int, rate: float) -> Refusal:
        bound = max(self._min_messages, self._max_seconds * rate)
        wait = MAX_HINT if rate <= 0 else min(MAX_HINT, max(1, math.ceil(
            (backlog - bound) / rate)))
        delivery = f"{rate:.0f} messages/s" if rate > 0 else "nothing delivered lately"
        return Refusal("Throttling", f"{backlog} messages wait for delivery ({delivery}), "
                       f"more than {self._max_seconds:g} s of delivery; requests of one "
                       f"number still pass; retry in {wait} s", "backpressure",
                       retry_after=wait)
