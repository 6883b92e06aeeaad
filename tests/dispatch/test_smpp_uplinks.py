"""Long handset replies arrive in parts (UDH or SAR deliver_sm) and reach the sink as one
uplink, over real sockets with the simulator SMSC; parts are answered only once the whole
reply is stored, and a reply with a part missing is delivered without it after the timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import ManualClock
from tests.dispatch.test_smpp import Rig, Sink, rig_for
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.channels.smpp_pdu import ESM_UDHI, ShortMessage, Status
from yizhan.dispatch.channels.smpp_uplinks import Concat, concat_of
from yizhan.domain import segments
from yizhan.domain.events import Uplink
from yizhan.domain.ports import Accepted, SubmitRequest
from yizhan.simulator.smsc import SmscServer, uplink_parts

PHONE, DEST = "8613800138000", "10690010042"
LONG_GSM = "Please call me back about the order {42} " * 12  # braces: GSM escapes
LONG_UCS2 = "请回电话确认订单，谢谢！😀" * 16  # an emoji: a surrogate pair


@pytest.fixture
async def rig(clock: ManualClock) -> AsyncIterator[Rig]:
    made = await rig_for(clock, uplink_parts_timeout=0.5)
    yield made
    await made.channel.stop()
    await made.smsc.stop()


def uplinks(rig: Rig) -> list[tuple[str, str, str]]:
    return [(e.phone, e.dest_code, e.content) for e in rig.sink.events if isinstance(e, Uplink)]


@pytest.mark.parametrize("mode", ["udh8", "udh16", "sar"])
@pytest.mark.parametrize("text", [LONG_GSM, LONG_UCS2])
async def test_parts_in_any_order_reach_the_sink_as_one_reply(rig: Rig, mode: str,
                                                              text: str) -> None:
    parts = uplink_parts(PHONE, DEST, text, mode=mode, reference=0x1234 if mode != "udh8" else 7)
    assert len(parts) >= 3
    first, *rest = [asyncio.create_task(rig.smsc.deliver(p)) for p in reversed(parts)]
    answers = await asyncio.wait_for(asyncio.gather(first, *rest), 5)
    assert [a.status for a in answers] == [Status.ROK] * len(parts)
    assert uplinks(rig) == [(PHONE, DEST, text)]


async def test_parts_are_answered_only_once_the_whole_reply_is_stored(rig: Rig) -> None:
    one, two = uplink_parts(PHONE, DEST, LONG_GSM[:200])
    early = asyncio.create_task(rig.smsc.deliver(one))
    await rig.clock.sleepers(1)  # part 1 is held until its reply's parts timeout
    assert not early.done() and not rig.sink.events  # waiting for part 2
    again = asyncio.create_task(rig.smsc.deliver(one))  # the SMSC offers part 1 again
    rig.sink.open.clear()
    last = asyncio.create_task(rig.smsc.deliver(two))
    await asyncio.wait_for(rig.sink.called.wait(), 5)
    assert not last.done()  # complete, but not stored yet
    rig.sink.open.set()
    answers = await asyncio.wait_for(asyncio.gather(early, again, last), 5)
    assert [a.status for a in answers] == [Status.ROK] * 3
    assert uplinks(rig) == [(PHONE, DEST, LONG_GSM[:200])]  # the repeated part counts once


async def test_a_reply_missing_a_part_is_delivered_without_it_after_the_timeout(
        rig: Rig) -> None:
    one, _two, three = uplink_parts(PHONE, DEST, LONG_GSM[:400])
    delivering = asyncio.gather(rig.smsc.deliver(three), rig.smsc.deliver(one))
    await rig.clock.sleepers(1)
    rig.clock.advance(seconds=0.49)
    assert not delivering.done() and not rig.sink.events
    rig.clock.advance(seconds=0.01)  # uplink_parts_timeout: delivered without part 2
    answers = await asyncio.wait_for(delivering, 5)
    assert [a.status for a in answers] == [Status.ROK] * 2
    [(_, _, text)] = uplinks(rig)
    first, _, last = segments.split(LONG_GSM[:400])
    assert text == first + last


async def test_replies_of_other_handsets_and_references_do_not_mix(rig: Rig) -> None:
    mine = uplink_parts(PHONE, DEST, LONG_GSM[:200], reference=1)
    theirs = uplink_parts("8613900139000", DEST, LONG_UCS2[:80], reference=1)
    later = uplink_parts(PHONE, DEST, LONG_UCS2[:80], reference=2)
    tasks = [rig.smsc.deliver(p) for group in zip(mine, theirs, later, strict=True)
             for p in group]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert sorted(uplinks(rig)) == sorted([(PHONE, DEST, LONG_GSM[:200]),
                                           ("8613900139000", DEST, LONG_UCS2[:80]),
                                           (PHONE, DEST, LONG_UCS2[:80])])


async def test_the_scripted_simulator_sends_a_long_reply_in_parts(clock: ManualClock) -> None:
    smsc = SmscServer(Script(Outcome(delay=0, uplink=LONG_UCS2)))
    port = await smsc.start()
    channel = SmppChannel(SmppConfig("carrier", "127.0.0.1", port, "yz"), clock)
    rig = Rig(smsc, channel, Sink(), clock)
    await channel.start(rig.sink)
    try:
        await asyncio.wait_for(channel.bound.wait(), 5)
        result = await channel.submit(SubmitRequest(1, "+" + PHONE, "Reply to us", 1))
        assert isinstance(result, Accepted)
        await rig.sink.wait_for(2)  # the receipt, and one uplink for the whole reply
        assert uplinks(rig) == [(PHONE, "106", LONG_UCS2)]
    finally:
        await channel.stop()
        await smsc.stop()


@pytest.mark.parametrize(("header", "concat"), [
    (bytes((5, 0x00, 3, 9, 3, 2)), Concat(9, 3, 2)),
    (bytes((6, 0x08, 4, 0x12, 0x34, 2, 1)), Concat(0x1234, 2, 1)),
    (bytes((9, 0x0A, 2, 0, 0, 0x00, 3, 9, 3, 3)), Concat(9, 3, 3)),  # after another element
    (bytes((5, 0x00, 3, 9, 1, 1)), None),  # part 1 of 1: whole
    (bytes((5, 0x00, 3, 9, 3, 4)), None),  # part 4 of 3: read as whole
])
def test_concatenation_marks_in_a_user_data_header(header: bytes, concat: Concat | None) -> None:
    sm = ShortMessage(PHONE, DEST, header + b"hello", esm_class=ESM_UDHI)
    assert concat_of(sm) == (concat, b"hello")
