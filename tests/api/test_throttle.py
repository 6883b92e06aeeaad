"""The per-account request-rate limit counts whole seconds per account."""

from __future__ import annotations

from yizhan.api.throttle import RateLimiter
from yizhan.domain.model import AccountId


def test_limit_per_account_per_second() -> None:
    limiter = RateLimiter(3)
    a, b = AccountId(1), AccountId(2)
    assert [limiter.check(a, 10.1) for _ in range(3)] == [None, None, None]
    refused = limiter.check(a, 10.9)
    assert refused is not None and refused.code == "Throttling.User"
    assert limiter.check(b, 10.9) is None  # other accounts are not affected
    assert limiter.check(a, 11.0) is None  # a new second


def test_zero_means_off() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.check(AccountId(1), 5.0) is None for _ in range(10_000))
