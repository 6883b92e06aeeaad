"""What a channel did in the last minute, for the operator's channel page (docs/console.md
"Channels and routes"): submits and how many of them the channel did not take.

The router feeds it with every submit's answer (`Router.record`); sixty one-second buckets
on the clock's monotonic time, so that adding is a few operations and a read sums at most
sixty numbers. Counts of this process only, like the metrics (`runtime/metrics.py`).
"""

from __future__ import annotations

from typing import NamedTuple

SPAN = 60
"""Seconds counted."""


class Minute(NamedTuple):
    submits: int
    rejected: int
    """Refused by the carrier (an answer: the channel works)."""
    failed: int
    """Not taken: not bound, no answer, throttled (`Retryable`, `Ambiguous`)."""

    @property
    def error_rate(self) -> float | None:
        """The share of submits the channel did not take; None without submits."""
        return self.failed / self.submits if self.submits else None


class RecentSubmits:
    def __init__(self) -> None:
        self._second = [-1] * SPAN
        self._counts = [[0, 0, 0] for _ in range(SPAN)]

    def add(self, now: float, kind: int) -> None:
        """One answer at monotonic time `now`: kind 0 taken, 1 rejected, 2 failed."""
        second = int(now)
        slot = second % SPAN
        counts = self._counts[slot]
        if self._second[slot] != second:
            self._second[slot] = second
            counts[0] = counts[1] = counts[2] = 0
        counts[kind] += 1

    def minute(self, now: float) -> Minute:
        """The answers of the last `SPAN` seconds up to `now`."""
        second = int(now)
        taken = rejected = failed = 0
        for at, (t, r, f) in zip(self._second, self._counts, strict=True):
            if second - SPAN < at <= second:
                taken, rejected, failed = taken + t, rejected + r, failed + f
        return Minute(taken + rejected + failed, rejected, failed)
