"""The per-account request-rate limit counts whole seconds per account."""

from __future__ import annotations

from tests.conftest import ManualClock
from yizhan.api.throttle import RateLimiter
from yizhan.domain.model import AccountId


def test_limit_per_account_per_second() -> None:
    clock = ManualClock()
    limiter = RateLimiter(3, clock)
    a, b = AccountId(1), AccountId(2)
    assert [limiter.check(a) for _ in range(3)] == [None, None, None]
    clock.advance(seconds=0.5)
    refused = limiter.check(a)
    assert refused is not None and refused.code == "Throttling.User"
    assert limiter.check(b) is None  # other accounts are not affected
    clock.advance(seconds=0.5)
    assert limiter.check(a) is None  # a new second


def test_zero_means_off() -> None:
    limiter = RateLimiter(0, ManualClock())
    assert all(limiter.check(AccountId(1)) is None for _ in range(10_000))
