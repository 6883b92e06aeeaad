"""The composition root picks the counter backend from the settings: with
`rate_backend = "redis"` a whole process counts in Redis under its prefix."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from tests.conftest import fast_settings
from tests.contract.conftest import REDIS_URL
from yizhan.app import build
from yizhan.backends.redis_rates import RedisRateCounter
from yizhan.cli.demo import ensure_demo
from yizhan.domain.errors import Refusal
from yizhan.domain.model import TemplateType
from yizhan.intake.accept import SendAccepted, SendRequest
from yizhan.policy.chain import Recipient
from yizhan.storage.store import SqlStore


async def test_redis_backend_from_settings(store: SqlStore, tmp_path: Path,
                                           redis_prefix: str) -> None:
    yz = await build(fast_settings(tmp_path, rate_backend="redis", redis_url=REDIS_URL,
                                   redis_prefix=redis_prefix), store=store)
    assert isinstance(yz.frequency.counter, RedisRateCounter)
    demo = await ensure_demo(store, yz.clock.now())
    request = SendRequest(demo.templates[TemplateType.VERIFICATION].code,
                          [Recipient("13800138000", demo.signature.name, '{"code":"1"}')])
    yz.pipeline.committer.start()
    try:
        assert isinstance(await yz.intake.send(demo.account, request), SendAccepted)
        refused = await yz.intake.send(demo.account, request)
        assert isinstance(refused, Refusal) and refused.code == "isv.BUSINESS_LIMIT_CONTROL"
    finally:
        await yz.pipeline.committer.stop()
        await yz.frequency.counter.close()
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=redis_prefix + "*")]
    await client.aclose()
    assert len(keys) == 4  # signature + number: minute, hour, day; number: day
