"""A channel's bind limit shared by the dispatchers of one store (`max_binds`,
runtime/bind_slots.py): three SMPP channels of one account, as three dispatch processes
hold them, with a limit of two binds; the carrier (the simulator, refusing a third bind)
never sees more than two, and the one left waiting binds once a holder stops. A dispatcher
whose channels all wait for a slot claims no message. Processes: tests/test_multiprocess.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.conftest import ManualClock
from tests.dispatch.test_worker import SlowChannel
from tests.storage.test_store import make_messages
from yizhan.backends.local import LocalBus
from yizhan.dispatch.channels.session import SLOT_RETRY_SECONDS
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import DispatchState
from yizhan.runtime.bind_slots import BindSlots
from yizhan.simulator.smsc import SmscServer
from yizhan.storage.store import SqlStore


class _Sink:
    async def __call__(self, event: object) -> None: ...


async def test_three_dispatchers_share_two_binds(store: SqlStore, clock: ManualClock,
                                                 tmp_path: Path) -> None:
    log = tmp_path / "binds.jsonl"
    smsc = SmscServer(max_binds=2, bind_log=log)
    port = await smsc.start()
    config = SmppConfig("carrier", "127.0.0.1", port, "yz", max_binds=2, reconnect_min=0.05,
                        reconnect_max=0.2)
    channels = [SmppChannel(config, clock, BindSlots(store, clock, "carrier", 2))
                for _ in range(3)]
    try:
        for n, channel in enumerate(channels, 1):
            await channel.start(_Sink())
            await clock.sleepers(n)  # bound (renewing its slot), or waiting for a slot
        bound = [c for c in channels if c.ready]
        [waiting] = [c for c in channels if not c.ready]
        assert len(bound) == 2 and waiting.waiting_slot and not any(
            c.waiting_slot for c in bound)
        await bound[0].stop()  # unbinds and gives its slot back
        clock.advance(seconds=SLOT_RETRY_SECONDS)
        await asyncio.wait_for(waiting.bound.wait(), 5)
        assert not waiting.waiting_slot
    finally:
        for channel in channels:
            await channel.stop()
        await smsc.stop()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events].count("bind") == 3
    assert "refused" not in {e["event"] for e in events}
    assert max(e["binds"] for e in events) == 2
    assert events[-1]["binds"] == 0  # every slot holder unbound at its stop


async def test_a_dispatcher_waiting_for_a_bind_slot_claims_nothing(
        store: SqlStore, clock: ManualClock) -> None:
    [made] = await make_messages(store, clock, 1)
    channel = SlowChannel(1)
    channel.ready = False
    channel.waiting_slot = True  # type: ignore[attr-defined]
    worker = DispatchWorker(store, Router.single([channel], "slow", clock=clock), LocalBus(),
                            clock, DispatchConfig())
    assert await worker.run_once() == 0
    found = await store.message(made.account_id, made.id)
    assert found and found.dispatch_state is DispatchState.QUEUED
    channel.waiting_slot = False  # type: ignore[attr-defined]  # not bound, not waiting:
    assert await worker.run_once() == 1  # claimed and back on the outbox as before
