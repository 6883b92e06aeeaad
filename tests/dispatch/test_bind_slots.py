"""A channel's bind limit shared by the dispatchers of one store (`max_binds`,
runtime/bind_slots.py): three SMPP channels of one account, as three dispatch processes
hold them, with a limit of two binds; the carrier (the simulator, refusing a third bind)
never sees more than two, and the one left waiting binds once a holder stops. The same for
a CMPP, SGIP or SMGP channel built from a channel file. A dispatcher whose channels all wait
for a slot claims no message. Processes: tests/test_multiprocess.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.conftest import ManualClock, eventually
from tests.dispatch.test_worker import SlowChannel
from tests.storage.test_store import make_messages
from yizhan.backends.local import LocalBus
from yizhan.dispatch.channel_file import PlanError, build_plan, parse_plan
from yizhan.dispatch.channels.session import SLOT_RETRY_SECONDS, Session
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import DispatchState
from yizhan.runtime.bind_slots import BindSlots
from yizhan.simulator.ismg import IsmgServer
from yizhan.simulator.sgip_smg import SmgServer
from yizhan.simulator.smgw import SmgwServer
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


class Gateway(Protocol):
    """A gateway simulator: its logged-in links."""

    links: list[Any]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int: ...
    async def stop(self) -> None: ...


GATEWAYS: dict[str, tuple[Callable[[], Gateway], str]] = {
    "cmpp": (lambda: IsmgServer(manual=True, accounts={"901234": "s3cret"}),
             'source_addr = "901234"\npassword = "s3cret"\n'),
    "sgip": (lambda: SmgServer(accounts={"yizhan": "s3cret"}),
             'login_name = "yizhan"\npassword = "s3cret"\nlisten_host = "127.0.0.1"\n'
             'listen_port = 0\n'),
    "smgp": (lambda: SmgwServer(manual=True, accounts={"SP000001": "s3cret"}),
             'client_id = "SP000001"\nsecret = "s3cret"\n'),
}
"""Each gateway protocol on the session core: its simulator, and its channel's login."""


@pytest.mark.parametrize("kind", sorted(GATEWAYS))
async def test_two_dispatchers_share_one_bind_of_a_gateway_channel(
        kind: str, store: SqlStore, clock: ManualClock) -> None:
    """`max_binds = 1` on a CMPP, SGIP or SMGP channel, built by two dispatchers from one
    channel file: one binds, the other waits for the slot and takes it once the first stops."""
    make, login = GATEWAYS[kind]
    gateway = make()
    port = await gateway.start()
    plan = parse_plan(f'[[channel]]\nname = "carrier"\nkind = "{kind}"\nhost = "127.0.0.1"\n'
                      f'port = {port}\nmax_binds = 1\nreconnect_min = 0.05\n'
                      f'reconnect_max = 0.2\n{login}')
    first, second = (build_plan(plan, clock, smsc=SmscServer, slots=lambda name, limit:
                                BindSlots(store, clock, name, limit)).channels[0]
                     for _ in range(2))
    assert isinstance(first, Session) and isinstance(second, Session)
    try:
        await first.start(_Sink())
        await asyncio.wait_for(first.bound.wait(), 5)
        await second.start(_Sink())
        await eventually(_waiting(second), 5, "the second dispatcher waiting for a slot")
        assert first.ready and not first.waiting_slot and not second.ready
        assert len(gateway.links) == 1  # the gateway saw one login only
        await first.stop()  # logs out and gives its slot back
        clock.advance(seconds=SLOT_RETRY_SECONDS)
        await asyncio.wait_for(second.bound.wait(), 5)
        assert not second.waiting_slot and second.binds == 1
    finally:
        await first.stop()
        await second.stop()
        await gateway.stop()


def _waiting(channel: Session[Any, Any]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return channel.waiting_slot
    return check


@pytest.mark.parametrize("kind", sorted(GATEWAYS))
def test_a_wrong_max_binds_of_a_gateway_channel_is_refused(kind: str) -> None:
    with pytest.raises(PlanError, match="channel 'carrier': max_binds must be a whole number"):
        parse_plan(f'[[channel]]\nname = "carrier"\nkind = "{kind}"\nhost = "127.0.0.1"\n'
                   f'port = 1\nmax_binds = -1\n{GATEWAYS[kind][1]}')
