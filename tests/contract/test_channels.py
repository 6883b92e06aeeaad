"""The channel contract: what every gateway channel does, whatever its protocol (SMPP, CMPP
2.0 and 3.0, SGIP 1.2, SMGP 3.0; `gateways.GATEWAYS`), against its simulator driven
step by step over loopback: bind, window, reconnect, throttling, long messages, receipts,
replies, and a submit left without an answer (a cut link, a timeout) that is ambiguous and
never sent again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ManualClock
from tests.contract.gateways import GATEWAYS, NUMBER, Gateway, Sink, Submitted
from yizhan.dispatch.channels.session import Session
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable, SubmitRequest

TEXT = "【驿站】验证码 1234"
PHONE = "+8613800138000"
LONG = "【驿站】" + "您的订单已发货，请注意查收。" * 12  # 172 characters: 3 UCS-2 parts


class Rig:
    def __init__(self, gateway: Gateway, channel: Session[Any, Any], sink: Sink,
                 clock: ManualClock) -> None:
        self.gateway, self.channel, self.sink, self.clock = gateway, channel, sink, clock

    def send(self, text: str = TEXT, n: int = 1, extension: str = "") -> asyncio.Task[Any]:
        return asyncio.create_task(self.channel.submit(
            SubmitRequest(n, PHONE, text, 1, extension=extension)))

    async def events(self, count: int) -> list[Receipt | Uplink]:
        while len(self.sink.events) < count:
            self.sink.arrived.clear()
            await asyncio.wait_for(self.sink.arrived.wait(), 5)
        return self.sink.events

    async def rebound(self, binds: int = 2) -> None:
        """Drive the reconnect after a lost link: its back-off waits on the clock."""
        await self.clock.sleepers(1)
        self.clock.advance(seconds=1.0)
        await asyncio.wait_for(self.channel.bound.wait(), 5)
        assert self.channel.binds == binds

    async def accepted(self, text: str = TEXT, n: int = 1) -> tuple[Submitted, str]:
        task = self.send(text, n)
        got = await self.gateway.next_submit()
        remote_id = self.gateway.accept(got)
        assert await asyncio.wait_for(task, 5) == Accepted(remote_id)
        return got, remote_id


async def rig_for(name: str, clock: ManualClock, **settings: Any) -> Rig:
    gateway: Gateway = GATEWAYS[name]()
    port = await gateway.start()
    config: dict[str, Any] = dict(reconnect_min=0.05, reconnect_max=0.2, response_timeout=5.0)
    config.update(settings)
    channel = gateway.channel(port, clock, **config)
    sink = Sink()
    await channel.start(sink)
    await asyncio.wait_for(channel.bound.wait(), 5)
    return Rig(gateway, channel, sink, clock)


@pytest.fixture(params=sorted(GATEWAYS))
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def rig(protocol: str, clock: ManualClock) -> AsyncIterator[Rig]:
    made = await rig_for(protocol, clock)
    yield made
    await made.channel.stop()
    await made.gateway.stop()


async def test_it_binds_and_a_submit_leaves_from_the_channel_number_and_extension(
        rig: Rig) -> None:
    task = rig.send(extension="12")
    got = await rig.gateway.next_submit()
    assert got.text == TEXT and got.source == NUMBER + "12"
    assert got.dest.endswith("13800138000") and got.part == (1, 1)
    remote_id = rig.gateway.accept(got)
    assert remote_id and await asyncio.wait_for(task, 5) == Accepted(remote_id)
    assert rig.channel.ready and rig.channel.binds == 1


async def test_the_window_bounds_submits_in_flight(protocol: str, clock: ManualClock) -> None:
    rig = await rig_for(protocol, clock, window=2)
    try:
        tasks = [rig.send(n=n) for n in range(3)]
        first, second = await rig.gateway.next_submit(), await rig.gateway.next_submit()
        await asyncio.sleep(0)
        assert rig.gateway.idle() and rig.channel.window_use == (2, 2, 2)
        rig.gateway.accept(first)
        third = await rig.gateway.next_submit()  # a slot freed: the third leaves
        for got in (second, third):
            rig.gateway.accept(got)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert all(isinstance(r, Accepted) for r in results)
        assert rig.channel.window_use == (0, 2, 2)
    finally:
        await rig.channel.stop()
        await rig.gateway.stop()


async def test_a_lost_link_reconnects_after_a_back_off_on_the_clock(rig: Rig) -> None:
    rig.gateway.cut()
    await rig.clock.sleepers(1)
    assert not rig.channel.ready
    result = await rig.send()
    assert isinstance(result, Retryable) and "not bound" in result.reason
    await rig.rebound()
    await rig.accepted()


async def test_throttling_is_retryable_halves_the_window_and_pauses(rig: Rig) -> None:
    task = rig.send()
    rig.gateway.throttle(await rig.gateway.next_submit())
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Retryable) and rig.gateway.throttled_code in result.reason
    assert rig.channel.window_use == (0, 50, 100)
    again = rig.send(n=2)
    await rig.clock.sleepers(1)  # the pause (throttle_backoff, 1 s) is on the clock
    rig.clock.advance(seconds=0.5)
    await asyncio.sleep(0)
    assert not again.done() and rig.gateway.idle()
    rig.clock.advance(seconds=0.5)
    rig.gateway.accept(await rig.gateway.next_submit())
    assert isinstance(await asyncio.wait_for(again, 5), Accepted)


async def test_a_refused_submit_is_rejected_with_the_protocol_code(rig: Rig) -> None:
    task = rig.send()
    rig.gateway.refuse(await rig.gateway.next_submit())
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Rejected) and result.code == rig.gateway.refused_code


async def test_a_long_message_leaves_in_numbered_parts_and_its_receipts_fold_into_one(
        rig: Rig) -> None:
    task = rig.send(LONG)
    parts, ids = [], []
    for _ in range(3):
        got = await rig.gateway.next_submit()
        parts.append(got)
        ids.append(rig.gateway.accept(got))
    assert await asyncio.wait_for(task, 5) == Accepted(ids[0])
    assert [p.part for p in parts] == [(1, 3), (2, 3), (3, 3)]
    assert "".join(p.text for p in parts) == LONG
    for remote_id in ids:
        assert await rig.gateway.receipt(remote_id, "DELIVRD")
    events = await rig.events(1)
    await asyncio.sleep(0)
    assert len(events) == 1  # one receipt for the message, once its last part is delivered
    receipt = events[0]
    assert isinstance(receipt, Receipt)
    assert (receipt.remote_id, receipt.code, receipt.status) == (ids[0], "DELIVRD", "success")


@pytest.mark.parametrize(("stat", "status", "code"), [
    ("DELIVRD", "success", "DELIVRD"), ("UNDELIV", "failed", "UNDELIV"),
    ("MK:0001", "failed", "MK:0001")])
async def test_a_receipt_reaches_the_sink_with_its_status_and_handset(
        rig: Rig, stat: str, status: str, code: str) -> None:
    _, remote_id = await rig.accepted()
    assert await rig.gateway.receipt(remote_id, stat)  # acknowledged once stored
    receipt = (await rig.events(1))[0]
    assert isinstance(receipt, Receipt)
    assert (receipt.remote_id, receipt.code, receipt.status) == (remote_id, code, status)
    assert receipt.phone == PHONE and receipt.channel == "carrier"


async def test_a_receipt_not_stored_is_not_acknowledged(rig: Rig) -> None:
    _, remote_id = await rig.accepted()
    rig.sink.fail = True
    assert not await rig.gateway.receipt(remote_id, "DELIVRD")  # the gateway offers again
    rig.sink.fail = False
    assert await rig.gateway.receipt(remote_id, "DELIVRD")
    assert len(await rig.events(1)) == 1


@pytest.mark.parametrize("text", ["R", "好的，谢谢" * 30])
async def test_a_reply_is_attributed_by_its_extension(rig: Rig, text: str) -> None:
    assert await rig.gateway.reply(PHONE, NUMBER + "12", text)
    uplink = (await rig.events(1))[0]
    assert isinstance(uplink, Uplink)
    assert (uplink.content, uplink.extension, uplink.dest_code) == (text, "12", NUMBER + "12")
    assert uplink.phone.endswith("8613800138000")


async def test_a_link_cut_after_a_submit_left_is_ambiguous_and_never_resent(
        rig: Rig) -> None:
    task = rig.send()
    await rig.gateway.next_submit()
    rig.gateway.cut()
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Ambiguous) and "link lost" in result.reason
    await rig.rebound()
    await rig.accepted(n=2)  # the next message is the only one the gateway sees
    assert rig.gateway.idle()


async def test_no_answer_in_time_is_ambiguous(protocol: str, clock: ManualClock) -> None:
    rig = await rig_for(protocol, clock, response_timeout=0.5)
    try:
        task = rig.send()
        await rig.gateway.next_submit()
        result = await asyncio.wait_for(task, 5)
        assert isinstance(result, Ambiguous) and "within 0.5s" in result.reason
    finally:
        await rig.channel.stop()
        await rig.gateway.stop()


async def test_stop_says_goodbye_and_binds_no_more(rig: Rig) -> None:
    await rig.channel.stop()
    assert not rig.channel.ready
    server = rig.gateway.server  # type: ignore[attr-defined]
    said = getattr(server, {"smpp": "unbinds", "sgip": "unbinds", "smgp": "exits"}.get(
        rig.gateway.protocol, "terminates"))
    assert said == 1
