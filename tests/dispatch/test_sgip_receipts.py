"""Reports and replies from the simulated China Unicom gateway, through our listener, to the
sink as the platform's events: a Report's id is its Submit's sequence number, its ErrorCode
is read through the channel's code table (the shipped one by default), a reply names its
extension, a long reply is put back together, and nothing is answered Result 0 before the
sink has stored it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.conftest import ManualClock, eventually
from tests.dispatch.test_smpp import Sink
from yizhan.dispatch.channels.sgip_link import Link, bind
from yizhan.dispatch.channels.sgip_listener import Credentials, SgipListener
from yizhan.dispatch.channels.sgip_pdu import (
    Command,
    Deliver,
    LoginType,
    Report,
    ReportState,
    Result,
    Sequence,
    Submit,
)
from yizhan.dispatch.channels.sgip_receipts import (
    Inbound,
    concat_of,
    default_codes,
    receipt_of,
)
from yizhan.dispatch.channels.sgip_text import MessageCoding, contents
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.domain.codes import CodeTable
from yizhan.domain.events import Receipt, Uplink
from yizhan.simulator import sgip_smg
from yizhan.simulator.sgip_smg import ConnectBack, SmgServer

SP_NUMBER = "1065501234"
GATEWAY = Credentials("unicom", "back")
FAST = 0.01
SCRIPT = Script(Outcome(delay=FAST), {
    "+8613000000029": Outcome(code="29", delay=FAST),
    "+8613000000025": Outcome(code="25", delay=FAST),
    "+8613000000026": Outcome(code="26", delay=FAST),
    "+8613000000077": Outcome(uplink="R", delay=FAST),
    "+8613000000078": Outcome(uplink="回复" + "好" * 100, delay=FAST),
})


@dataclass
class Rig:
    smg: SmgServer
    sink: Sink
    inbound: Inbound
    link: Link

    async def submit(self, number: str, extension: str = "0001") -> Sequence:
        body = Submit(user_numbers=[number], sp_number=SP_NUMBER + extension,
                      message_content=contents("【驿站】您好", MessageCoding.UCS2, 1)[0],
                      message_coding=MessageCoding.UCS2)
        sequence, future = self.link.request(Command.SUBMIT, body)
        await asyncio.wait_for(future, 5)
        return sequence


async def _now(value: object) -> object:
    """`eventually` takes an awaitable check: a value read now."""
    return value


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    sink, clock = Sink(), ManualClock()
    inbound = Inbound("cucc", sink, clock, sp_number=SP_NUMBER, part_timeout=30)
    listener = SgipListener(GATEWAY, node=1, on_report=inbound.on_report,
                            on_deliver=inbound.on_deliver)
    back = await listener.start()
    smg = SmgServer(SCRIPT, connect_back={"yz": ConnectBack("127.0.0.1", back, "unicom",
                                                            "back")})
    port = await smg.start()
    _, link = await asyncio.get_running_loop().create_connection(
        lambda: Link(lambda lk, pdu: None, node=3_010_000_002), "127.0.0.1", port)
    assert await bind(link, LoginType.SP_TO_SMG, "yz", "") == Result.OK
    yield Rig(smg, sink, inbound, link)
    link.close()
    await inbound.close()
    await smg.stop()
    await listener.stop()


async def test_reports_are_receipts_read_through_the_shipped_code_table(rig: Rig) -> None:
    ids = {number: (await rig.submit(number)).text for number in (
        "8613000000001", "8613000000029", "8613000000025", "8613000000026")}
    events = await rig.sink.wait_for(4)
    got = {e.remote_id: (e.status, e.code, e.raw, e.phone) for e in events
           if isinstance(e, Receipt)}
    assert got == {
        ids["8613000000001"]: ("success", "DELIVERED", "stat:DELIVRD err:000", "+8613000000001"),
        ids["8613000000029"]: ("failed", "MK:0001", "stat:UNDELIV err:029", "+8613000000029"),
        ids["8613000000025"]: ("failed", "MK:0023", "stat:UNDELIV err:025", "+8613000000025"),
        ids["8613000000026"]: ("failed", "SGIP:026", "stat:UNDELIV err:026", "+8613000000026"),
    }
    info = default_codes().explain("SGIP:026")
    assert info is not None and "memory is full" in info.cause


def test_a_waiting_report_is_no_receipt_and_a_channel_table_wins() -> None:
    sequence = Sequence(1, 1207185300, 5)
    waiting = Report(sequence, "8613000000001", ReportState.WAITING, 0)
    assert receipt_of(waiting, "cucc", default_codes(), ManualClock().now()) is None
    own = CodeTable.from_data({"codes": {"UNDELIV/032": {"code": "CU:SYS",
                                                         "cause": "gateway down"}}})
    failed = Report(sequence, "8613000000001", ReportState.FAILED, 32)
    receipt = receipt_of(failed, "cucc", own, ManualClock().now())
    assert receipt is not None and (receipt.code, receipt.remote_id) == \
        ("CU:SYS", "1-1207185300-5")
    plain = receipt_of(Report(sequence, "", ReportState.FAILED, 99), "cucc", default_codes(),
                       ManualClock().now())
    assert plain is not None and (plain.code, plain.phone) == ("UNDELIV", "")


async def test_a_reply_names_its_extension_and_a_long_one_comes_whole(rig: Rig) -> None:
    await rig.submit("8613000000077", extension="0042")
    await rig.submit("8613000000078", extension="0043")
    events = await rig.sink.wait_for(4)
    uplinks = sorted((e for e in events if isinstance(e, Uplink)), key=lambda u: u.phone)
    assert [(u.phone, u.dest_code, u.extension, u.content) for u in uplinks] == [
        ("+8613000000077", SP_NUMBER + "0042", "0042", "R"),
        ("+8613000000078", SP_NUMBER + "0043", "0043", "回复" + "好" * 100)]
    await eventually(lambda: _now(rig.smg.delivers_acked == 3), what="3 parts answered")


async def test_nothing_is_answered_before_the_sink_stored_it(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sgip_smg, "RETRY_SECONDS", 0.05)
    rig.sink.fail = True
    sequence = await rig.submit("8613000000001")
    await asyncio.wait_for(rig.sink.called.wait(), 5)
    assert rig.smg.reports_acked == 0
    rig.sink.fail = False  # the gateway offers it again and now it is stored
    events = await rig.sink.wait_for(1)
    assert [e.remote_id for e in events if isinstance(e, Receipt)] == [sequence.text]
    await eventually(lambda: _now(rig.smg.reports_acked == 1), what="the report answered")


async def test_a_reply_missing_a_part_is_stored_with_what_came_after_the_timeout() -> None:
    sink, clock = Sink(), ManualClock()
    inbound = Inbound("cucc", sink, clock, sp_number=SP_NUMBER, part_timeout=30)
    parts = contents("好" * 100, MessageCoding.UCS2, 7)
    assert len(parts) == 2
    first = Deliver("8613000000001", SP_NUMBER, parts[0], MessageCoding.UCS2, tp_udhi=1)
    assert concat_of(first) == (7, 2, 1)
    answer = asyncio.create_task(inbound.on_deliver(first))
    await clock.sleepers(1)  # the reply's timer
    assert not answer.done() and sink.events == []
    clock.advance(seconds=29)
    await asyncio.sleep(0)
    assert not answer.done()
    clock.advance(seconds=2)
    assert await asyncio.wait_for(answer, 5) == Result.OK
    (uplink,) = sink.events
    assert isinstance(uplink, Uplink) and uplink.content == "好" * 67
    await inbound.close()
