"""Routing over real SMPP binds on loopback: weighted balancing between two SMSCs, failover
when one SMSC dies mid-run (in-flight submits become unknown, never resent; the rest goes to
the other one), and a throttling channel whose breaker opens, is probed, and closes again."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tests.conftest import ManualClock, eventually
from tests.storage.test_store import make_messages
from yizhan.backends.local import LocalBus
from yizhan.dispatch.breaker import BreakerConfig
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.router import Route, Router, Target
from yizhan.dispatch.worker import DISPATCH, DispatchConfig, DispatchWorker
from yizhan.domain.model import DispatchState, Message, MessageStatus
from yizhan.receipts.correlate import ReceiptStage
from yizhan.runtime.metrics import Metrics
from yizhan.simulator.smsc import SmscServer
from yizhan.storage.store import SqlStore

DELIVERED = Script(default=Outcome(delay=0.01))


@dataclass
class Carriers:
    smscs: dict[str, SmscServer]
    channels: dict[str, SmppChannel]
    stage: ReceiptStage


@asynccontextmanager
async def carriers(store: SqlStore, clock: ManualClock, **scripts: Script
                   ) -> AsyncIterator[Carriers]:
    """One SMPP simulator server and one bound SmppChannel per name."""
    stage = ReceiptStage(store, clock, match_every=0.05)
    await stage.start()
    smscs: dict[str, SmscServer] = {}
    channels: dict[str, SmppChannel] = {}
    try:
        for name, script in scripts.items():
            smscs[name] = SmscServer(script)
            port = await smscs[name].start()
            # A throttle pause of 10 ms passes at once on the manual clock (`instant`).
            channels[name] = SmppChannel(SmppConfig(
                name, "127.0.0.1", port, name, reconnect_min=0.05, reconnect_max=0.2,
                throttle_backoff=0.01, response_timeout=2), clock)
            await channels[name].start(stage.on_event)
            await asyncio.wait_for(channels[name].bound.wait(), 5)
        yield Carriers(smscs, channels, stage)
    finally:
        for channel in channels.values():
            await channel.stop()
        for smsc in smscs.values():
            await smsc.stop()
        await stage.stop()


async def finals(store: SqlStore, made: list[Message], lost_on: str = "") -> list[Message]:
    """The messages once final; those accepted by channel `lost_on` may stay waiting (their
    receipts died with its SMSC)."""
    async def check() -> list[Message] | None:
        found = [await store.message(m.account_id, m.id) for m in made]
        done = [f for f in found if f is not None and (
            f.status is not MessageStatus.WAITING
            or (f.channel == lost_on and f.dispatch_state is DispatchState.SUBMITTED))]
        return done if len(done) == len(made) else None
    result: list[Message] = await eventually(check, timeout=20, what="every message final")
    return result


async def test_weighted_balancing_over_two_smscs(store: SqlStore, clock: ManualClock) -> None:
    async with carriers(store, clock, a=DELIVERED, b=DELIVERED) as c:
        router = Router(list(c.channels.values()), [Route("r", (Target("a", 3), Target("b")))],
                        rng=random.Random(3), clock=clock)
        worker = DispatchWorker(store, router, LocalBus(), clock, DispatchConfig(batch=400))
        made = await make_messages(store, clock, 400)
        assert await worker.run_once() == 400
        done = await finals(store, made)
        assert all(m.status is MessageStatus.SUCCESS for m in done)
        share = c.smscs["a"].submitted / 400
        assert 0.69 < share < 0.81, share
        assert c.smscs["a"].submitted + c.smscs["b"].submitted == 400
        assert {m.channel for m in done} == {"a", "b"}
        assert all(m.route.startswith(f"route r: {m.channel} (weight ") for m in done)


async def test_failover_when_an_smsc_dies_mid_run(store: SqlStore, clock: ManualClock) -> None:
    async with carriers(store, clock, a=DELIVERED, b=DELIVERED) as c:
        router = Router(list(c.channels.values()), [Route("r", (Target("a"),
                                                                Target("b", tier=2)))],
                        clock=clock)
        bus = LocalBus()
        metrics = Metrics()
        worker = DispatchWorker(store, router, bus, clock,
                                DispatchConfig(batch=50, window=16, poll_seconds=0.05,
                                               gather_seconds=0), metrics)
        running = asyncio.create_task(worker.run())
        made: list[Message] = []
        try:
            for batch in range(12):
                made += await make_messages(store, clock, 50)
                bus.notify(DISPATCH)
                if batch == 5:  # the carrier's gateway dies with submits in flight
                    await eventually(lambda: _positive(c.smscs["a"].submitted),
                                     what="submits on a")
                    await c.smscs["a"].stop()
            done = await finals(store, made, lost_on="a")
        finally:
            await worker.stop()
            await running
        by_status = {s: [m for m in done if m.status is s] for s in MessageStatus}
        assert not by_status[MessageStatus.FAILED]
        # waiting: accepted by a, whose receipts died with it (the 72-hour rule ends them)
        assert all(m.channel == "a" for m in by_status[MessageStatus.WAITING])
        assert len(by_status[MessageStatus.UNKNOWN]) <= 16  # at most the window in flight
        for m in by_status[MessageStatus.UNKNOWN]:
            assert m.channel == "a" and "link lost" in m.reason
        on_b = [m for m in done if m.channel == "b"]
        assert on_b and all(m.status is MessageStatus.SUCCESS for m in on_b)
        assert any("a (not bound)" in m.route or "a could not take it" in m.route
                   for m in on_b)
        # nothing was sent twice: every accepted submit is one message
        accepted = c.smscs["a"].submitted + c.smscs["b"].submitted
        answered = len(by_status[MessageStatus.SUCCESS]) + len(by_status[MessageStatus.WAITING])
        assert answered <= accepted <= answered + len(by_status[MessageStatus.UNKNOWN])
        text = metrics.render().decode()
        assert f'yizhan_channel_submits_total{{channel="b",result="accepted"}} {len(on_b)}.0' \
            in text
        assert ('yizhan_channel_submits_total{channel="a",result="ambiguous"} '
                f'{len(by_status[MessageStatus.UNKNOWN])}.0') in text or \
            not by_status[MessageStatus.UNKNOWN]


async def _positive(value: int) -> bool:
    return value > 0


async def test_a_throttling_channel_is_skipped_then_probed_and_used_again(
        store: SqlStore, clock: ManualClock) -> None:
    async with carriers(store, clock, a=Script(default=Outcome(submit="throttle")),
                        b=DELIVERED) as c:
        router = Router(list(c.channels.values()),
                        [Route("r", (Target("a"), Target("b", tier=2)))],
                        BreakerConfig(failures=3, open_seconds=0.3, max_open_seconds=1),
                        clock=clock)
        worker = DispatchWorker(store, router, LocalBus(), clock, DispatchConfig(window=1))
        first = await make_messages(store, clock, 10)
        assert await worker.run_once() == 10
        done = await finals(store, first)
        assert all(m.status is MessageStatus.SUCCESS and m.channel == "b" for m in done)
        # three throttled answers from a failed over at once; then a's breaker is open
        assert [("a could not take it" in m.route) for m in done[:4]] == [True] * 3 + [False]
        assert all("a (circuit open)" in m.route for m in done[3:])
        # a recovers; after open_seconds a probe goes to it, and traffic comes back
        c.smscs["a"].script = DELIVERED
        clock.advance(seconds=0.3)
        second = await make_messages(store, clock, 10)
        assert await worker.run_once() == 10
        done = await finals(store, second)
        assert all(m.status is MessageStatus.SUCCESS and m.channel == "a" for m in done)
        assert c.smscs["a"].submitted == 10
