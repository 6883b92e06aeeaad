"""Fixtures of the contract suites: every `RateCounter` implementation, each on its own
store or Redis key prefix. Redis is required (127.0.0.1:6379, or YIZHAN_TEST_REDIS_URL): a
Redis that cannot be reached fails these tests, it never skips them."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.conftest import DATABASES, ManualClock, opened_store
from yizhan.backends.redis_rates import RedisRateCounter
from yizhan.domain.ports import RateCounter
from yizhan.domain.rates import to_ms
from yizhan.storage.rate_counters import SqlRateCounter

REDIS_URL = os.environ.get("YIZHAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = [f"sql-{d}" for d in DATABASES] + ["redis"]


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"yizhan-test:{uuid.uuid4().hex}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=BACKENDS)
async def counter(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock,
                  redis_prefix: str) -> AsyncIterator[RateCounter]:
    backend = str(request.param)
    if backend == "redis":
        made = RedisRateCounter.connect(REDIS_URL, redis_prefix)
        await made._client.ping()  # down: fail here, loudly
        yield made
        await made.close()
        return
    async with opened_store(backend.removeprefix("sql-"), tmp_path) as store:
        opened = await SqlRateCounter.open(store, to_ms(clock.now()))
        yield opened
        await opened.close()
