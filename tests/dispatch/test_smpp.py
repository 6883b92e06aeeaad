"""The SMPP channel (our ESME) against the simulator SMSC driven step by step over loopback:
what goes on the wire, how each answer becomes a submit result, and that a submit without
an answer is never sent twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import gsm0338  # noqa: F401  (registers the gsm03.38 codec: the oracle)
import pytest

from tests.conftest import ManualClock
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig, statuses
from yizhan.dispatch.channels.smpp_pdu import (
    ESM_UDHI,
    BindResp,
    Command,
    Framer,
    Pdu,
    ShortMessage,
    Status,
    Tag,
    decode,
    encode,
    text_of,
)
from yizhan.dispatch.channels.smpp_receipts import IdBase, IdFormat
from yizhan.domain.codes import CodeTable
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable, SubmitRequest
from yizhan.simulator.smsc import SmscServer


class Sink:
    """Stores events in a list; can be held (to prove answers wait) or made to fail.
    `called`: events were handed to it (stored or held)."""

    def __init__(self) -> None:
        self.events: list[Receipt | Uplink] = []
        self.open = asyncio.Event()
        self.open.set()
        self.fail = False
        self.arrived = asyncio.Event()
        self.called = asyncio.Event()

    async def __call__(self, event: Receipt | Uplink) -> None:
        await self.many([event])

    async def many(self, events: Sequence[Receipt | Uplink]) -> None:
        self.called.set()
        await self.open.wait()
        if self.fail:
            raise RuntimeError("store unavailable")
        self.events.extend(events)
        self.arrived.set()

    async def wait_for(self, count: int) -> list[Receipt | Uplink]:
        while len(self.events) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)
        return self.events


class Rig:
    def __init__(self, smsc: SmscServer, channel: SmppChannel, sink: Sink,
                 clock: ManualClock) -> None:
        self.smsc, self.channel, self.sink, self.clock = smsc, channel, sink, clock

    def send(self, text: str = "【驿站】验证码 1234", phone: str = "+8613800138000",
             n: int = 1) -> asyncio.Task[Any]:
        return asyncio.create_task(self.channel.submit(SubmitRequest(n, phone, text, 1)))


async def rig_for(clock: ManualClock, **config: Any) -> Rig:
    smsc = SmscServer(manual=True, system_id="yz", password="pw")
    port = await smsc.start()
    settings: dict[str, Any] = dict(password="pw", channel_code="9001", reconnect_min=0.05,
                                    reconnect_max=0.2, response_timeout=5.0)
    settings.update(config)
    channel = SmppChannel(SmppConfig("carrier", "127.0.0.1", port, "yz", **settings), clock)
    sink = Sink()
    await channel.start(sink)
    await asyncio.wait_for(channel.bound.wait(), 5)
    return Rig(smsc, channel, sink, clock)


async def rebound(rig: Rig) -> None:
    """Drive the channel's reconnect after a lost link: its back-off waits on the clock."""
    await rig.clock.sleepers(1)
    rig.clock.advance(seconds=rig.channel.config.reconnect_max)
    await asyncio.wait_for(rig.channel.bound.wait(), 5)
    assert rig.channel.binds == 2


@pytest.fixture
async def rig(clock: ManualClock) -> AsyncIterator[Rig]:
    made = await rig_for(clock)
    yield made
    await made.channel.stop()
    await made.smsc.stop()


async def test_a_submit_carries_the_channel_settings_and_returns_the_carrier_id(rig: Rig) -> None:
    task = rig.send()
    got = await rig.smsc.expect(Command.SUBMIT_SM)
    sm = got.message
    assert (sm.source_addr, sm.source_addr_ton, sm.source_addr_npi) == ("1069001", 0, 1)
    assert (sm.destination_addr, sm.dest_addr_ton, sm.dest_addr_npi) == ("8613800138000", 1, 1)
    assert sm.registered_delivery == 1 and sm.data_coding == 8
    assert got.text == "【驿站】验证码 1234"
    rig.smsc.answer(got, message_id="000A1B2C")
    assert await asyncio.wait_for(task, 5) == Accepted("a1b2c")


async def test_gsm_text_goes_as_gsm_septets_with_its_data_coding(rig: Rig) -> None:
    task = rig.send("Code 1234 {ok} €")
    got = await rig.smsc.expect()
    assert got.message.data_coding == 0
    assert got.message.short_message == "Code 1234 {ok} €".encode("gsm03.38")
    rig.smsc.answer(got)
    assert isinstance(await task, Accepted)


@pytest.mark.parametrize("status", [Status.RTHROTTLED, Status.RMSGQFUL])
async def test_throttling_is_retryable_and_halves_the_window(rig: Rig, status: Status) -> None:
    task = rig.send()
    rig.smsc.answer(await rig.smsc.expect(), status)
    result = await task
    assert isinstance(result, Retryable) and Status(status).name in result.reason
    assert rig.channel._window.limit == 50
    # submits pause for throttle_backoff (1 s), then go on
    again = rig.send(n=2)
    await rig.clock.sleepers(1)
    rig.clock.advance(seconds=0.5)
    assert not again.done() and rig.smsc.inbox.empty()
    rig.clock.advance(seconds=0.5)
    rig.smsc.answer(await rig.smsc.expect())
    assert isinstance(await again, Accepted)


async def test_a_refused_submit_is_rejected_with_the_status_name(rig: Rig) -> None:
    task = rig.send()
    rig.smsc.answer(await rig.smsc.expect(), Status.RINVDSTADR)
    assert await task == Rejected("ESME_RINVDSTADR",
                                  "channel carrier refused the submit: ESME_RINVDSTADR")


async def test_a_channel_chooses_which_refusals_are_retryable(clock: ManualClock) -> None:
    rig = await rig_for(clock, retryable=statuses(["ESME_0x00000401", "RINVDSTADR"]))
    try:
        answers = {}
        for status in (0x401, Status.RINVDSTADR, Status.RSYSERR, Status.RTHROTTLED):
            task = rig.send(n=status)
            rig.smsc.answer(await rig.smsc.expect(), status)
            answers[status] = await task
        assert isinstance(answers[0x401], Retryable) and "ESME_0x00000401" in answers[0x401].reason
        assert isinstance(answers[Status.RINVDSTADR], Retryable)
        # not in this channel's list: refused for good (the platform would retry it)
        assert answers[Status.RSYSERR] == Rejected(
            "ESME_RSYSERR", "channel carrier refused the submit: ESME_RSYSERR")
        assert isinstance(answers[Status.RTHROTTLED], Retryable)  # throttles always are
    finally:
        await rig.channel.stop()
        await rig.smsc.stop()


async def test_a_link_lost_mid_submit_is_ambiguous_and_never_resent(rig: Rig) -> None:
    task = rig.send()
    await rig.smsc.expect()
    rig.smsc.drop()
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Ambiguous) and "link lost" in result.reason
    await rebound(rig)  # it reconnects by itself
    nothing = rig.send(n=2)
    again = await rig.smsc.expect()
    assert again.text == "【驿站】验证码 1234" and rig.smsc.inbox.empty()
    rig.smsc.answer(again)
    assert isinstance(await nothing, Accepted)


async def test_a_submit_sm_resp_without_its_nul_is_ambiguous_and_the_link_stays(
        rig: Rig) -> None:
    task = rig.send()
    got = await rig.smsc.expect()
    got.link.write(Command.SUBMIT_SM_RESP, got.pdu.sequence, Status.ROK, b"0A1B2C")  # no NUL
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Ambiguous) and "malformed submit_sm_resp" in result.reason
    again = rig.send(n=2)
    rig.smsc.answer(await rig.smsc.expect(), message_id="7")
    assert await asyncio.wait_for(again, 5) == Accepted("7") and rig.channel.binds == 1


async def test_a_generic_nack_to_a_submit_is_rejected_with_its_status(rig: Rig) -> None:
    task = rig.send()
    got = await rig.smsc.expect()
    got.link.write(Command.GENERIC_NACK, got.pdu.sequence, Status.RINVCMDID, b"")
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Rejected) and result.code == "ESME_RINVCMDID"


async def test_submits_of_one_turn_leave_in_order_and_answers_find_their_submit(
        rig: Rig) -> None:
    tasks = [rig.send(f"【驿站】验证码 {n}", n=n) for n in range(5)]
    got = [await rig.smsc.expect() for _ in range(5)]
    assert [g.text for g in got] == [f"【驿站】验证码 {n}" for n in range(5)]
    for n, incoming in reversed(list(enumerate(got))):  # answered last first
        rig.smsc.answer(incoming, message_id=f"{n + 10}")
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert results == [Accepted(f"{n + 10}") for n in range(5)]
    assert rig.channel._window.used == 0


async def test_a_link_cut_with_submits_still_buffered_loses_none_of_them(rig: Rig) -> None:
    link = rig.channel._tx
    assert link is not None
    journal, buffered = link.before_write, []

    def cut() -> None:  # the submits are in the link's buffer, about to leave: cut it now
        assert link is not None and journal is not None
        buffered.append(link.in_flight)
        link.abort()
        journal()

    link.before_write = cut
    tasks = [rig.send(n=n) for n in range(3)]
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert all(isinstance(r, Ambiguous) and "link lost" in r.reason for r in results)
    assert buffered == [3] and rig.channel._window.used == 0
    await rebound(rig)  # it reconnects by itself
    again = rig.send(n=4)
    rig.smsc.answer(await rig.smsc.expect(), message_id="4")
    assert await asyncio.wait_for(again, 5) == Accepted("4")
    assert rig.smsc.inbox.empty()  # the cut submits never reached the SMSC: none was resent


async def test_a_submit_while_not_bound_is_retryable(rig: Rig) -> None:
    await rig.smsc.stop()
    await rig.clock.sleepers(1)  # the link is lost: the channel waits to bind again
    assert not rig.channel.bound.is_set()
    result = await rig.send()
    assert isinstance(result, Retryable) and "not bound" in result.reason


async def test_no_answer_within_the_response_timeout_is_ambiguous(clock: ManualClock) -> None:
    rig = await rig_for(clock, response_timeout=0.5)
    try:
        task = rig.send()
        await rig.smsc.expect()
        result = await asyncio.wait_for(task, 5)
        assert isinstance(result, Ambiguous) and "no submit_sm_resp" in result.reason
    finally:
        await rig.channel.stop()
        await rig.smsc.stop()


async def test_the_window_bounds_submits_in_flight(clock: ManualClock) -> None:
    rig = await rig_for(clock, window=2)
    try:
        tasks = [rig.send(n=n) for n in range(5)]
        first = [await rig.smsc.expect(), await rig.smsc.expect()]
        with pytest.raises(TimeoutError):
            await rig.smsc.expect(timeout=0.2)
        for got in first:
            rig.smsc.answer(got)
        for _ in range(3):
            rig.smsc.answer(await rig.smsc.expect())
        assert all(isinstance(r, Accepted) for r in await asyncio.gather(*tasks))
    finally:
        await rig.channel.stop()
        await rig.smsc.stop()


async def test_max_per_second_paces_the_submits(clock: ManualClock) -> None:
    smsc = SmscServer()
    port = await smsc.start()
    channel = SmppChannel(SmppConfig("paced", "127.0.0.1", port, "yz", max_per_second=50),
                          clock)
    await channel.start(Sink())
    await asyncio.wait_for(channel.bound.wait(), 5)
    try:
        submits = [asyncio.create_task(channel.submit(SubmitRequest(n, "+8613800138000",
                                                                    "hi", 1)))
                   for n in range(11)]
        await clock.sleepers(10)  # the first goes at once; each other waits for its slot
        for _ in range(9):
            clock.advance(seconds=0.02)
        results = await asyncio.wait_for(asyncio.gather(*submits[:10]), 5)
        assert all(isinstance(r, Accepted) for r in results)
        assert not submits[-1].done()  # its slot is 10 intervals of 20 ms after the first
        clock.advance(seconds=0.02)
        assert isinstance(await asyncio.wait_for(submits[-1], 5), Accepted)
    finally:
        await channel.stop()
        await smsc.stop()


async def test_a_receipt_is_answered_only_after_the_sink_stored_it(rig: Rig) -> None:
    task = rig.send()
    remote = rig.smsc.answer(await rig.smsc.expect(), message_id="0A1B")
    await task
    rig.sink.open.clear()
    answer = asyncio.create_task(rig.smsc.receipt(remote, "DELIVRD"))
    await asyncio.wait_for(rig.sink.called.wait(), 5)  # the receipt is being stored
    assert not answer.done() and not rig.sink.events
    rig.sink.open.set()
    assert (await asyncio.wait_for(answer, 5)).status == Status.ROK
    [receipt] = rig.sink.events
    assert isinstance(receipt, Receipt)
    assert (receipt.channel, receipt.remote_id, receipt.code) == ("carrier", "a1b", "DELIVRD")


async def test_a_receipt_the_sink_could_not_store_is_refused_for_another_offer(rig: Rig) -> None:
    rig.sink.fail = True
    answer = await rig.smsc.receipt("0A1B", "UNDELIV")
    assert answer.status == Status.RX_T_APPN


async def test_receipt_ids_match_in_another_case_padding_or_base(clock: ManualClock) -> None:
    rig = await rig_for(clock, ids=IdFormat(IdBase.HEX, IdBase.DEC))
    try:
        task = rig.send()
        rig.smsc.answer(await rig.smsc.expect(), message_id="0A1B")
        accepted = await task
        await rig.smsc.receipt(str(0x0A1B), "MK:0001", tlvs=False)
        [receipt] = await rig.sink.wait_for(1)
        assert isinstance(accepted, Accepted) and isinstance(receipt, Receipt)
        assert accepted.remote_id == receipt.remote_id == "2587"
        assert receipt.code == "MK:0001" and "err:000" in receipt.raw
    finally:
        await rig.channel.stop()
        await rig.smsc.stop()


CARRIER_CODES = CodeTable.from_data({"codes": {
    "UNDELIV/001": {"code": "MK:0001"},
    "UNDELIV/045": {"code": "CM:0045", "cause": "the handset refuses messages from 106 numbers",
                    "suggestion": "ask the user to lift the block"},
    "ACCEPTD": {"status": "waiting"},
    "0": {"status": "success"},
}})


async def test_a_channel_code_table_translates_its_carriers_receipts(clock: ManualClock) -> None:
    rig = await rig_for(clock, codes=CARRIER_CODES)
    try:
        sent = [("A1", "UNDELIV", "001"), ("A2", "UNDELIV", "045"), ("A3", "ACCEPTD", "000"),
                ("A4", "0", "000"), ("A5", "UNDELIV", "999"), ("A6", "DELIVRD", "000")]
        for remote_id, stat, err in sent:
            answer = await rig.smsc.receipt(remote_id, stat, err=err, tlvs=False)
            assert answer.status == Status.ROK  # every one is taken, the waiting one too
        got = [(e.remote_id, e.code) for e in rig.sink.events if isinstance(e, Receipt)]
        assert got == [("a1", "MK:0001"), ("a2", "CM:0045"), ("a4", "DELIVRD"),
                       ("a5", "UNDELIV"), ("a6", "DELIVRD")]
        assert "err:045" in rig.sink.events[1].raw  # type: ignore[union-attr]
        info = rig.channel.config.codes.explain("CM:0045")
        assert info is not None and "106 numbers" in info.cause
    finally:
        await rig.channel.stop()
        await rig.smsc.stop()


async def test_an_uplink_reaches_the_sink(rig: Rig) -> None:
    answer = await rig.smsc.uplink("8613800138000", "10690010042", "R")
    assert answer.status == Status.ROK
    [uplink] = rig.sink.events
    assert isinstance(uplink, Uplink)
    assert (uplink.phone, uplink.dest_code, uplink.content) == (
        "8613800138000", "10690010042", "R")


async def test_a_malformed_deliver_sm_is_nacked_and_the_next_one_still_stored(rig: Rig) -> None:
    [link] = rig.smsc.links
    answer = await asyncio.wait_for(link.request(Command.DELIVER_SM, b"\0\1\1broken"), 5)
    assert (answer.command, answer.status) == (Command.GENERIC_NACK, Status.RINVCMDLEN)
    assert (await rig.smsc.receipt("0A1B", "DELIVRD")).status == Status.ROK
    assert [e.remote_id for e in rig.sink.events if isinstance(e, Receipt)] == ["a1b"]


async def test_stop_unbinds_gracefully(clock: ManualClock) -> None:
    rig = await rig_for(clock)
    await rig.channel.stop()
    assert rig.smsc.unbinds == 1
    await rig.smsc.stop()


async def test_a_split_bind_submits_on_one_link_and_receives_on_the_other(
        clock: ManualClock) -> None:
    rig = await rig_for(clock, bind="split")
    try:
        assert sorted(link.bound_as for link in rig.smsc.links if link.bound_as) == [
            Command.BIND_RECEIVER, Command.BIND_TRANSMITTER]
        task = rig.send()
        got = await rig.smsc.expect()
        assert got.link.bound_as is Command.BIND_TRANSMITTER
        remote = rig.smsc.answer(got)
        await task
        await rig.smsc.receipt(remote)  # goes to the receiver bind
        assert [e.code for e in await rig.sink.wait_for(1) if isinstance(e, Receipt)] == [
            "DELIVRD"]
    finally:
        await rig.channel.stop()
        await rig.smsc.stop()


async def test_a_split_bind_stopping_logs_a_clean_close_and_binds_no_more(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    """issue 14 point 26: unbinding the first link of a split bind woke the bind keeper,
    which logged `link lost; reconnecting` during a clean shutdown."""
    rig = await rig_for(clock, bind="split")
    caplog.set_level(logging.INFO, logger="yizhan.smpp")
    await rig.channel.stop()
    await rig.smsc.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "yizhan.smpp"]
    assert rig.smsc.unbinds == 2 and rig.channel.binds == 1
    assert not [line for line in said if "lost" in line], said
    assert "channel carrier: unbound" in said


async def test_an_unbind_from_the_carrier_is_a_clean_close_and_binds_again(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    """issue 14 point 26: a carrier's unbind is logged as a clean close, not a lost link;
    the channel binds again."""
    rig = await rig_for(clock, bind="split")
    caplog.set_level(logging.INFO, logger="yizhan.smpp")
    try:
        receiver = next(link for link in rig.smsc.links
                        if link.bound_as is Command.BIND_RECEIVER)
        answer = await asyncio.wait_for(receiver.request(Command.UNBIND), 5)
        assert answer.command is Command.UNBIND_RESP
        await rebound(rig)
        said = [r.getMessage() for r in caplog.records if r.name == "yizhan.smpp"]
        assert "channel carrier: the carrier unbound cleanly; binding again" in said
        assert not [line for line in said if "lost" in line], said
    finally:
        await rig.channel.stop()
        await rig.smsc.stop()


async def test_a_wrong_password_leaves_the_channel_unbound(clock: ManualClock) -> None:
    smsc = SmscServer(system_id="yz", password="pw")
    port = await smsc.start()
    channel = SmppChannel(SmppConfig("c", "127.0.0.1", port, "yz", password="no",
                                     reconnect_min=0.05), clock)
    await channel.start(Sink())
    try:
        await clock.sleepers(1)  # the bind was refused: the channel waits to try again
        assert not channel.bound.is_set() and channel.binds == 0
        assert isinstance(await channel.submit(SubmitRequest(1, "+8613800138000", "x", 1)),
                          Retryable)
    finally:
        await channel.stop()
        await smsc.stop()


# ---- long messages -------------------------------------------------------------------------

LONG = "【驿站】" + "验" * 100  # 104 UCS-2 units: 2 parts of 67 + 37


async def _two_parts(rig: Rig) -> tuple[asyncio.Task[Any], list[ShortMessage], list[str]]:
    task = rig.send(LONG)
    parts: list[ShortMessage] = []
    ids: list[str] = []
    for _ in range(2):
        got = await rig.smsc.expect()
        parts.append(got.message)
        ids.append(rig.smsc.answer(got))
    return task, parts, ids


async def test_a_long_message_goes_in_udh_parts_and_resolves_to_one_receipt(rig: Rig) -> None:
    task, parts, ids = await _two_parts(rig)
    assert await task == Accepted(ids[0].lower())
    heads = [p.short_message[:6] for p in parts]
    assert all(p.esm_class & ESM_UDHI for p in parts)
    assert heads[0][:4] == heads[1][:4] and heads[0][:3] == b"\x05\x00\x03"
    assert [h[4:] for h in heads] == [b"\x02\x01", b"\x02\x02"]
    assert "".join(text_of(p) for p in parts) == LONG
    await rig.smsc.receipt(ids[1])  # parts' receipts in any order
    await rig.smsc.receipt(ids[0])
    [receipt] = await rig.sink.wait_for(1)
    assert isinstance(receipt, Receipt)
    assert (receipt.remote_id, receipt.code) == (ids[0].lower(), "DELIVRD")


async def test_one_failed_part_fails_the_message_once(rig: Rig) -> None:
    task, _, ids = await _two_parts(rig)
    await task
    await rig.smsc.receipt(ids[1], "MK:0023")
    await rig.smsc.receipt(ids[0], "DELIVRD")  # answered once the sink has what it carries
    assert [(e.remote_id, e.code) for e in rig.sink.events if isinstance(e, Receipt)] == [
        (ids[0].lower(), "MK:0023")]


async def test_each_long_message_to_a_number_gets_the_next_reference(rig: Rig) -> None:
    refs = []
    for _ in range(2):
        task, parts, _ = await _two_parts(rig)
        await task
        refs.append(parts[0].short_message[3])
    assert refs[1] == (refs[0] + 1) % 256


async def test_a_later_part_refused_fails_the_message_without_resending(rig: Rig) -> None:
    task = rig.send(LONG)
    rig.smsc.answer(await rig.smsc.expect())
    rig.smsc.answer(await rig.smsc.expect(), Status.RINVDSTADR)
    result = await task
    assert isinstance(result, Rejected) and "part 2 of 2" in result.reason
    assert rig.smsc.inbox.empty()


@pytest.mark.parametrize("mode", ["udh16", "sar", "payload"])
async def test_other_long_message_modes(clock: ManualClock, mode: str) -> None:
    rig = await rig_for(clock, long_messages=mode)
    try:
        task = rig.send(LONG)
        got = [await rig.smsc.expect()]
        if mode != "payload":
            rig.smsc.answer(got[0])
            got.append(await rig.smsc.expect())
        for g in got[len(got) - 1:]:
            rig.smsc.answer(g)
        assert isinstance(await task, Accepted)
        messages = [g.message for g in got]
        if mode == "udh16":
            assert messages[0].short_message[:3] == b"\x06\x08\x04"
            assert messages[0].short_message[3:5] == messages[1].short_message[3:5]
            assert "".join(text_of(m) for m in messages) == LONG
        elif mode == "sar":
            assert [m.tlvs[Tag.SAR_SEGMENT_SEQNUM] for m in messages] == [b"\x01", b"\x02"]
            assert messages[0].tlvs[Tag.SAR_MSG_REF_NUM] == messages[1].tlvs[Tag.SAR_MSG_REF_NUM]
            assert all(m.esm_class == 0 for m in messages)
            assert "".join(text_of(m) for m in messages) == LONG
        else:
            [one] = messages
            assert one.short_message == b"" and text_of(one) == LONG
    finally:
        await rig.channel.stop()
        await rig.smsc.stop()


def test_config_is_a_frozen_value() -> None:
    config = SmppConfig("c", "127.0.0.1", 1, "yz")
    assert replace(config, window=5).window == 5


# ---- keep-alive ----------------------------------------------------------------------------


class MuteSmsc(asyncio.Protocol):
    """Binds every ESME, then answers nothing: records what it receives."""

    def __init__(self, seen: list[Command]) -> None:
        self.seen = seen
        self.framer = Framer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # an SMSC may probe too: the ESME answers enquire_link by itself
        self.transport.write(encode(Pdu(Command.ENQUIRE_LINK, 77)))

    def data_received(self, data: bytes) -> None:
        for raw in self.framer.feed(data):
            pdu = decode(raw)
            self.seen.append(pdu.command)
            if pdu.command is Command.BIND_TRANSCEIVER:
                assert self.transport is not None
                self.transport.write(encode(Pdu(Command.BIND_TRANSCEIVER_RESP, pdu.sequence,
                                                0, BindResp("mute"))))


async def test_a_quiet_link_is_probed_and_dropped_when_the_probe_goes_unanswered(
        clock: ManualClock) -> None:
    seen: list[Command] = []
    server = await asyncio.get_running_loop().create_server(lambda: MuteSmsc(seen),
                                                            "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    channel = SmppChannel(SmppConfig("c", "127.0.0.1", port, "yz", enquire_link_seconds=1,
                                     reconnect_min=0.05), clock)
    await channel.start(Sink())
    try:
        await clock.sleepers(1, timeout=10)  # the probe went unanswered: the link is dropped
        clock.advance(seconds=0.05)  # the reconnect back-off
        await asyncio.wait_for(channel.bound.wait(), 5)
        assert channel.binds == 2
        first, second = seen[:3], seen[3:5]
        assert set(first[:2]) == {Command.BIND_TRANSCEIVER, Command.ENQUIRE_LINK_RESP}
        assert first[2] is Command.ENQUIRE_LINK  # sent after a second of quiet
        assert set(second) == {Command.BIND_TRANSCEIVER, Command.ENQUIRE_LINK_RESP}
    finally:
        await channel.stop()
        server.close()
        await server.wait_closed()
