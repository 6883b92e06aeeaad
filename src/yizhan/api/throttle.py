"""The per-account API request-rate limit (`Throttling.User`), a guard against runaway
clients, distinct from SMS frequency control.

Counts requests per account in whole seconds, in this process: with several API processes
each allows the limit, so set it per process (docs/configuration.md). It protects the
platform, not a business rule, which is why it may live in process memory.
"""

from __future__ import annotations

import math

from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId
from yizhan.domain.ports import Clock


class RateLimiter:
    def __init__(self, per_second: int, clock: Clock) -> None:
        self._limit = per_second
        self._monotonic = clock.monotonic
        self._windows: dict[AccountId, tuple[int, int]] = {}

    def check(self, account_id: AccountId) -> Refusal | None:
        """Count one request; a refusal when the account is over its limit this second."""
        if self._limit <= 0:
            return None
        second = math.floor(self._monotonic())
        start, count = self._windows.get(account_id, (second, 0))
        if start != second:
            start, count = second, 0
        if count >= self._limit:
            return Refusal("Throttling.User", f"more than {self._limit} requests per second")
        self._windows[account_id] = (start, count + 1)
        return None
