"""One OS process of `test_rate_processes.py`: a whole intake (store, Redis counters,
frequency control) that sends `count` messages at once to one number when told to go.

    python -m tests.contract.rate_worker DB_URL REDIS_URL PREFIX NOW_MS COUNT

Prints `ready`, waits for a line on its standard input, sends, prints the number of
accepted sends.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from tests.conftest import TEST_MASTER
from yizhan.backends.local import LocalBus
from yizhan.backends.redis_rates import RedisRateCounter
from yizhan.cli.demo import ensure_demo
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import TemplateType
from yizhan.domain.ports import SystemClock
from yizhan.domain.rates import from_ms
from yizhan.intake.accept import Acceptance, Intake, SendAccepted, SendRequest
from yizhan.policy.chain import Recipient
from yizhan.policy.flow_control import FrequencyControl
from yizhan.policy.lists import PolicyLists
from yizhan.runtime.batching import Batcher
from yizhan.storage.frequency import FrequencySettings
from yizhan.storage.store import SqlStore


class FixedClock(SystemClock):
    """A wall clock that stands still; durations and waits are real."""

    def __init__(self, now_ms: int) -> None:
        self._now = from_ms(now_ms)

    def now(self) -> datetime:
        return self._now


async def main(db_url: str, redis_url: str, prefix: str, now_ms: int, count: int) -> int:
    store = SqlStore.open(db_url, master=TEST_MASTER)
    await store.unlock()
    clock = FixedClock(now_ms)
    counter = RedisRateCounter.connect(redis_url, prefix)
    committer: Batcher[Acceptance] = Batcher("intake", store.accept, clock)
    committer.start()
    demo = await ensure_demo(store, clock.now())
    intake = Intake(store, committer, clock, IdGenerator(), LocalBus(),
                    PolicyLists(store, clock, 0),
                    frequency=FrequencyControl(counter, FrequencySettings(store), clock))
    request = SendRequest(demo.templates[TemplateType.NOTIFICATION].code,
                          [Recipient("13800138000", demo.signature.name, '{"order":"1"}')])
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
    results = await asyncio.gather(*(intake.send(demo.account, request) for _ in range(count)))
    await committer.stop()
    await counter.close()
    await store.close()
    return sum(isinstance(r, SendAccepted) for r in results)


if __name__ == "__main__":
    db, redis_url, prefix, now, count = sys.argv[1:]
    print(asyncio.run(main(db, redis_url, prefix, int(now), int(count))), flush=True)
