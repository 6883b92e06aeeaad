"""The SGIP channel against the simulated China Unicom gateway over loopback: submits
answered with values, the gateway connecting back to the channel's listener with Reports
(receipts through the code table, long messages folded) and replies (by extension, long ones
whole), throttling, refusals, a lost link, a wrong password, and a sink that fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ManualClock, eventually
from tests.dispatch.test_smpp import Sink
from yizhan.dispatch.channels.sgip import SgipChannel, SgipConfig
from yizhan.dispatch.channels.sgip_pdu import Result, Sequence
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable, SubmitRequest
from yizhan.simulator import sgip_smg
from yizhan.simulator.sgip_smg import ConnectBack, SmgServer

FAST = 0.01
SCRIPT = Script(Outcome(delay=FAST), {
    "+8613000000029": Outcome(code="29", delay=FAST),
    "+8613000000006": Outcome(submit="reject:ILLEGAL_NUMBER"),
    "+8613000000011": Outcome(submit="throttle"),
    "+8613000000099": Outcome(submit="hang"),
    "+8613000000098": Outcome(submit="drop"),
    "+8613000000077": Outcome(uplink="R", delay=FAST),
    "+8613000000078": Outcome(uplink="回复" + "好" * 100, delay=FAST),
})


@dataclass
class Rig:
    smg: SmgServer
    port: int
    clock: ManualClock
    channels: list[SgipChannel]

    async def channel(self, sink: Sink, *, wait: bool = True, **settings: Any) -> SgipChannel:
        config: dict[str, Any] = dict(
            password="s3cret", node=3_057_112_345, corp_id="12345", channel_code="55",
            service_type="YZ", listen_host="127.0.0.1", listen_port=0,
            listen_login_name="unicom", listen_password="back", reconnect_min=0.05,
            reconnect_max=0.1, response_timeout=1.0)
        config.update(settings)
        channel = SgipChannel(SgipConfig("cucc", "127.0.0.1", self.port, "yizhan", **config),
                              self.clock)
        await channel.start(sink)
        self.channels.append(channel)
        self.smg.connect_back["yizhan"] = ConnectBack(
            "127.0.0.1", channel.listen_port, "unicom", "back")
        if wait:
            await asyncio.wait_for(channel.bound.wait(), 5)
        return channel


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    smg = SmgServer(SCRIPT, accounts={"yizhan": "s3cret"})
    port = await smg.start()
    rig = Rig(smg, port, ManualClock(), [])
    yield rig
    for channel in rig.channels:
        await channel.stop()
    await smg.stop()


def _request(phone: str, content: str = "【驿站】验证码 1234", message_id: int = 1,
             extension: str = "0001") -> SubmitRequest:
    return SubmitRequest(message_id, phone, content, 1, extension=extension)


async def test_a_submit_is_accepted_and_its_report_comes_back_by_the_listener(
        rig: Rig) -> None:
    sink = Sink()
    channel = await rig.channel(sink)
    ok = await channel.submit(_request("+8613000000001"))
    failed = await channel.submit(_request("+8613000000029", message_id=2))
    assert isinstance(ok, Accepted) and isinstance(failed, Accepted)
    sequence = Sequence.parse(ok.remote_id)
    assert sequence.node == 3_057_112_345
    assert sequence.time == int(rig.clock.now().strftime("%m%d")) * 1_000_000 + 120000
    events = await sink.wait_for(2)
    got = {e.remote_id: (e.status, e.code, e.phone) for e in events if isinstance(e, Receipt)}
    assert got == {ok.remote_id: ("success", "DELIVRD", "+8613000000001"),
                   failed.remote_id: ("failed", "MK:0001", "+8613000000029")}
    await eventually(lambda: _now(rig.smg.reports_acked == 2), what="the reports answered")
    assert channel.listener.connections == 1


async def _now(value: object) -> object:
    """`eventually` takes an awaitable check: a value read now."""
    return value


async def test_a_long_message_goes_in_parts_and_its_reports_fold_into_one(rig: Rig) -> None:
    sink = Sink()
    channel = await rig.channel(sink)
    rig.smg.manual = True
    text = "【驿站】" + "您的订单已发货，请注意查收。" * 8
    submitting = asyncio.create_task(channel.submit(_request("+8613000000001", text)))
    first, second = await rig.smg.expect(), None
    rig.smg.answer(first)
    second = await rig.smg.expect()
    rig.smg.answer(second)
    result = await submitting
    assert isinstance(result, Accepted)
    assert (first.submit.tp_udhi, second.submit.tp_udhi) == (1, 1)
    assert first.submit.sp_number == "106550001" and first.submit.corp_id == "12345"
    assert result.remote_id == first.pdu.sequence.text
    assert await rig.smg.report("yizhan", second.pdu.sequence, "8613000000001") == Result.OK
    assert await rig.smg.report("yizhan", first.pdu.sequence, "8613000000001") == Result.OK
    (receipt,) = await sink.wait_for(1)
    assert isinstance(receipt, Receipt)
    assert (receipt.remote_id, receipt.status) == (result.remote_id, "success")


async def test_replies_name_their_extension_and_long_ones_come_whole(rig: Rig) -> None:
    sink = Sink()
    channel = await rig.channel(sink)
    await channel.submit(_request("+8613000000077", extension="0042"))
    await channel.submit(_request("+8613000000078", extension="0043", message_id=2))
    events = await sink.wait_for(4)
    uplinks = sorted((e for e in events if isinstance(e, Uplink)), key=lambda u: u.phone)
    assert [(u.channel, u.phone, u.dest_code, u.extension, u.content) for u in uplinks] == [
        ("cucc", "+8613000000077", "106550042", "0042", "R"),
        ("cucc", "+8613000000078", "106550043", "0043", "回复" + "好" * 100)]
    await eventually(lambda: _now(rig.smg.delivers_acked == 3), what="3 Delivers answered")


async def test_refusals_throttling_and_unanswered_submits(rig: Rig) -> None:
    channel = await rig.channel(Sink())
    rejected = await channel.submit(_request("+8613000000006"))
    assert isinstance(rejected, Rejected) and rejected.code == "SGIP:006"
    assert "ILLEGAL_NUMBER (6)" in rejected.reason
    throttled = await channel.submit(_request("+8613000000011"))
    assert isinstance(throttled, Retryable) and "NODE_BUSY" in throttled.reason
    assert channel.window_use[1] == 8  # the window of 16 halved
    rig.clock.advance(seconds=2)  # past the throttle pause
    hung = await channel.submit(_request("+8613000000099"))
    assert isinstance(hung, Ambiguous) and "no Submit_Resp within 1s" in hung.reason


async def test_a_dropped_link_is_ambiguous_and_the_channel_binds_again(rig: Rig) -> None:
    channel = await rig.channel(Sink())
    dropped = await channel.submit(_request("+8613000000098"))
    assert isinstance(dropped, Ambiguous) and "link lost" in dropped.reason
    await rig.clock.sleepers(1)  # the reconnect back-off, on the injected clock
    rig.clock.advance(seconds=1)
    await eventually(lambda: _now(channel.binds == 2), what="a second bind")
    assert isinstance(await channel.submit(_request("+8613000000001")), Accepted)


async def test_a_wrong_password_never_binds(rig: Rig) -> None:
    channel = await rig.channel(Sink(), wait=False, password="wrong")
    for _ in range(2):  # refused, backs off (on the injected clock), refused again
        await rig.clock.sleepers(1)
        rig.clock.advance(seconds=1)
    await rig.clock.sleepers(1)
    assert not channel.ready and channel.binds == 0
    result = await channel.submit(_request("+8613000000001"))
    assert isinstance(result, Retryable) and "not bound" in result.reason


async def test_a_report_the_sink_could_not_store_is_offered_again(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sgip_smg, "RETRY_SECONDS", 0.05)
    sink = Sink()
    sink.fail = True
    channel = await rig.channel(sink)
    accepted = await channel.submit(_request("+8613000000001"))
    assert isinstance(accepted, Accepted)
    await asyncio.wait_for(sink.called.wait(), 5)
    assert rig.smg.reports_acked == 0
    sink.fail = False
    (receipt,) = await sink.wait_for(1)
    assert isinstance(receipt, Receipt) and receipt.remote_id == accepted.remote_id
    await eventually(lambda: _now(rig.smg.reports_acked == 1), what="the report answered")
