"""A circuit breaker per channel: skip a channel that keeps failing, probe it again later.

The router asks `allows()` before it picks a channel and reports every submit's answer with
`succeeded()` or `failed()`. After `failures` consecutive failures the breaker opens: the
channel is skipped for `open_seconds`. Then it is half-open: one submit is let through as a
probe while the others keep going elsewhere; its success closes the breaker, its failure
opens it again for twice as long (up to `max_open_seconds`).

What counts as a failure is decided by the router (a channel that is not bound, did not
answer, or said "not now"); a carrier's refusal of one message (`Rejected`) is an answer and
counts as a success of the channel. Time is the injected clock's monotonic time, passed in
by the router.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failures: int = 5
    """Consecutive failures that open the breaker."""
    open_seconds: float = 5.0
    """How long an open breaker skips its channel before the first probe."""
    max_open_seconds: float = 60.0
    """The longest skip: each failed probe doubles the previous one up to this."""


class Breaker:
    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened = 0
        """How many times the breaker opened (the metrics' count)."""
        self.last_error = ""
        self._until = 0.0
        self._skip = config.open_seconds
        self._probe_at: float | None = None

    def allows(self, now: float) -> bool:
        """Whether a submit may go to the channel now; `take` it before submitting."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return now >= self._until
        # half-open: one probe at a time (a probe never reported frees itself after a while)
        return self._probe_at is None or now - self._probe_at > self.config.max_open_seconds

    def take(self, now: float) -> None:
        """The router chose this channel: an open breaker past its time becomes half-open
        and this submit is its probe."""
        if self.state is BreakerState.OPEN and now >= self._until:
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN:
            self._probe_at = now

    def retry_in(self, now: float) -> float:
        """Seconds until the channel may be tried again (0 when it may be now)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self._until - now)
        return 0.0

    def succeeded(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._probe_at = None
        self._skip = self.config.open_seconds

    def failed(self, now: float, error: str) -> None:
        self.last_error = error
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN:
            self._skip = min(self._skip * 2, self.config.max_open_seconds)
            self._open(now)
        elif self.state is BreakerState.CLOSED and self.failures >= self.config.failures:
            self._open(now)

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self.opened += 1
        self._probe_at = None
        self._until = now + self._skip
