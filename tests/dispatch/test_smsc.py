"""The simulator SMSC run by its script (as `yizhan simulator` runs it), seen through our
ESME over loopback: per-number behaviours, interception, throttling, held and re-offered
receipts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ManualClock, eventually
from tests.dispatch.test_smpp import Sink
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.channels.smpp_link import Link
from yizhan.dispatch.channels.smpp_pdu import (
    ESM_RECEIPT,
    ESM_UDHI,
    Bind,
    Command,
    MessageState,
    ShortMessage,
    Status,
    SubmitTemplate,
    Tag,
    encode_body,
    tlv_cstr,
)
from yizhan.dispatch.channels.smpp_receipts import parse_text, receipt_text
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable, SubmitRequest
from yizhan.simulator import smsc as smsc_module
from yizhan.simulator.smsc import SmscServer

FAST = 0.01


class Scripted:
    def __init__(self, smsc: SmscServer, port: int, clock: ManualClock) -> None:
        self.smsc, self.port, self.clock = smsc, port, clock
        self.channels: list[SmppChannel] = []

    async def channel(self, sink: Sink, **config: Any) -> SmppChannel:
        settings: dict[str, Any] = dict(reconnect_min=0.05, reconnect_max=0.1)
        settings.update(config)
        channel = SmppChannel(SmppConfig("sim", "127.0.0.1", self.port, "yz", **settings),
                              self.clock)
        await channel.start(sink)
        await asyncio.wait_for(channel.bound.wait(), 5)
        self.channels.append(channel)
        return channel


@pytest.fixture
async def scripted(clock: ManualClock) -> AsyncIterator[Scripted]:
    script = Script(default=Outcome(delay=FAST), numbers={
        "13800000001": Outcome(code="EXPIRED", delay=0.1),
        "13800000002": Outcome(submit="reject:ESME_RINVDSTADR"),
        "13800000003": Outcome(submit="throttle"),
        "13800000004": Outcome(receipts=2, delay=FAST),
        "13800000005": Outcome(receipt_first=True),
        "13800000006": Outcome(uplink="R", delay=FAST),
        "13800000007": Outcome(submit="hang"),
        "13800000008": Outcome(submit="drop"),
    }, keywords={"赌博": "MK:0115"})
    smsc = SmscServer(script)
    made = Scripted(smsc, await smsc.start(), clock)
    yield made
    for channel in made.channels:
        await channel.stop()
    await smsc.stop()


def req(n: int, phone: str = "+8613800138000", text: str = "【驿站】验证码 1234") -> SubmitRequest:
    return SubmitRequest(n, phone, text, 1)


async def test_per_number_receipts(scripted: Scripted) -> None:
    sink = Sink()
    channel = await scripted.channel(sink)
    fine = await channel.submit(req(1))
    off = await channel.submit(req(2, "+8613800000001"))
    events = await sink.wait_for(2)
    assert isinstance(fine, Accepted) and isinstance(off, Accepted)
    assert [(e.remote_id, e.code) for e in events if isinstance(e, Receipt)] == [
        (fine.remote_id, "DELIVRD"), (off.remote_id, "EXPIRED")]


async def test_per_number_submit_answers(scripted: Scripted) -> None:
    channel = await scripted.channel(Sink(), response_timeout=0.3, throttle_backoff=0.01)
    assert await channel.submit(req(1, "+8613800000002")) == Rejected(
        "ESME_RINVDSTADR", "channel sim refused the submit: ESME_RINVDSTADR")
    assert isinstance(await channel.submit(req(2, "+8613800000003")), Retryable)
    hung = await channel.submit(req(3, "+8613800000007"))
    assert isinstance(hung, Ambiguous) and "no submit_sm_resp" in hung.reason
    dropped = await channel.submit(req(4, "+8613800000008"))
    assert isinstance(dropped, Ambiguous) and "link lost" in dropped.reason
    await scripted.clock.sleepers(1)  # the reconnect back-off
    scripted.clock.advance(seconds=0.1)
    await asyncio.wait_for(channel.bound.wait(), 5)
    assert channel.binds == 2


async def test_duplicate_early_and_uplink_events(scripted: Scripted) -> None:
    sink = Sink()
    channel = await scripted.channel(sink)
    twice = await channel.submit(req(1, "+8613800000004"))
    await sink.wait_for(2)
    early = await channel.submit(req(2, "+8613800000005"))
    await sink.wait_for(3)
    replied = await channel.submit(req(3, "+8613800000006"))
    events = await sink.wait_for(5)
    assert isinstance(twice, Accepted) and isinstance(early, Accepted)
    assert isinstance(replied, Accepted)
    receipts = [e.remote_id for e in events if isinstance(e, Receipt)]
    assert receipts.count(twice.remote_id) == 2 and early.remote_id in receipts
    [uplink] = [e for e in events if isinstance(e, Uplink)]
    assert (uplink.phone, uplink.dest_code, uplink.content) == ("8613800000006", "106", "R")


async def test_keywords_are_intercepted_with_the_scripted_code(scripted: Scripted) -> None:
    sink = Sink()
    channel = await scripted.channel(sink)
    result = await channel.submit(req(1, text="【驿站】线上赌博"))
    [receipt] = await sink.wait_for(1)
    assert isinstance(result, Accepted) and isinstance(receipt, Receipt)
    assert receipt.code == "MK:0115"


async def test_the_bind_is_throttled_beyond_max_per_second(scripted: Scripted) -> None:
    scripted.smsc.max_per_second = 5
    channel = await scripted.channel(Sink(), throttle_backoff=0.01)
    results = await asyncio.gather(*(channel.submit(req(n)) for n in range(10)))
    throttled = [r for r in results if isinstance(r, Retryable)]
    assert 1 <= len(throttled) <= 5 and "ESME_RTHROTTLED" in throttled[0].reason
    assert channel._window.limit < 100


async def test_receipts_wait_for_a_receiver_and_are_offered_again(
        scripted: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smsc_module, "RETRY_SECONDS", 0.05)
    scripted.smsc.script.default = Outcome(delay=0.2)
    first = await scripted.channel(Sink())
    accepted = await first.submit(req(1))
    await first.stop()  # unbound before the receipt is due: the SMSC holds it
    scripted.channels.remove(first)
    await asyncio.wait_for(scripted.smsc.holding.wait(), 5)
    sink = Sink()
    sink.fail = True
    await scripted.channel(sink)  # binds; the held receipt comes and is refused once
    await asyncio.wait_for(sink.called.wait(), 5)
    sink.fail = False
    [receipt] = await sink.wait_for(1)
    assert isinstance(accepted, Accepted) and isinstance(receipt, Receipt)
    assert receipt.remote_id == accepted.remote_id


async def test_a_malformed_submit_sm_is_nacked_and_the_bind_goes_on(scripted: Scripted) -> None:
    loop = asyncio.get_running_loop()
    _, link = await loop.create_connection(lambda: Link(lambda _link, _pdu: None),
                                           "127.0.0.1", scripted.port)
    try:
        bound = await asyncio.wait_for(link.request(Command.BIND_TRANSMITTER, Bind("yz")), 5)
        assert bound.status == Status.ROK
        nack = await asyncio.wait_for(link.request(Command.SUBMIT_SM, b"\0\1\1no NUL"), 5)
        assert (nack.command, nack.status) == (Command.GENERIC_NACK, Status.RINVCMDLEN)
        body = SubmitTemplate().body("106", "8613800138000", b"hi")
        answer = await asyncio.wait_for(link.request(Command.SUBMIT_SM, body), 5)
        assert answer.command is Command.SUBMIT_SM_RESP and answer.status == Status.ROK
    finally:
        link.close()


@given(remote_id=st.text(st.characters(min_codepoint=33, max_codepoint=255), min_size=1,
                         max_size=30),
       code=st.sampled_from(["DELIVRD", "EXPIRED", "UNDELIV", "MK:0001", "DB:0141"]),
       err=st.sampled_from(["000", "001", "9"]), tlvs=st.booleans(),
       reported=st.sampled_from([smsc_module.Reported(), smsc_module.Reported(
           "8613800138000", "10690010042", "2612070724", "2612070725")]))
def test_a_receipt_body_equals_the_receipt_text_written_through_the_template(
        remote_id: str, code: str, err: str, tlvs: bool, reported: smsc_module.Reported) -> None:
    smsc = SmscServer()
    text = receipt_text(remote_id, code, err=err, submitted=reported.submitted,
                        done=reported.done).encode("latin-1")
    expected = ShortMessage(
        source_addr=reported.handset, destination_addr=reported.sender, short_message=text,
        source_addr_ton=1, source_addr_npi=1, dest_addr_npi=1, esm_class=ESM_RECEIPT, tlvs={
            Tag.RECEIPTED_MESSAGE_ID: tlv_cstr(remote_id),
            Tag.MESSAGE_STATE: bytes((smsc_module.STATES.get(code, MessageState.UNDELIVERABLE),)),
        } if tlvs else {})
    for _ in range(2):  # the second time from the cached tail
        assert smsc._receipt_body(remote_id, code, err, tlvs, reported) == encode_body(expected)


async def test_a_script_file_loads_numbers_and_keywords(tmp_path: Path) -> None:
    path = tmp_path / "carriers.toml"
    path.write_text('[default]\ndelay = 0.5\n[numbers.13900139000]\ncode = "MK:0023"\n'
                    'receipts = 2\n[keywords]\n"发票" = "MB:1077"\n')
    script = Script.load(path, 0.2)
    assert script.outcome("+8613900139000") == Outcome(code="MK:0023", delay=0.5, receipts=2)
    assert script.keywords == {"发票": "MB:1077"}


async def test_each_channel_binds_only_with_its_own_credentials() -> None:
    """issue 14 point 24: the simulator inside `serve` accepted any system_id and password;
    now a bind must name a known channel (else ESME_RINVSYSID) with its password (else
    ESME_RINVPASWD)."""
    smsc = SmscServer(accounts={"cmcc": "a1", "cucc": ""})
    port = await smsc.start()
    loop = asyncio.get_running_loop()
    answers = []
    try:
        for system_id, password in (("cmcc", "a1"), ("cmcc", "b2"), ("cucc", ""),
                                    ("cucc", "x"), ("ghost", "a1")):
            _, link = await loop.create_connection(lambda: Link(lambda _link, _pdu: None),
                                                   "127.0.0.1", port)
            try:
                answer = await asyncio.wait_for(link.request(
                    Command.BIND_TRANSCEIVER, Bind(system_id, password)), 5)
                answers.append(answer.status)
            finally:
                link.close()
    finally:
        await smsc.stop()
    assert answers == [Status.ROK, Status.RINVPASWD, Status.ROK, Status.RINVPASWD,
                       Status.RINVSYSID]


async def test_a_long_message_gets_one_receipt_per_part_with_addresses_and_dates(
        scripted: Scripted) -> None:
    """issue 14 point 23: receipts named neither address and left both dates empty, so
    Kannel could not match the receipts of a long message's later parts. Each part's receipt
    now comes from the handset to the sender, with submit and done dates (YYMMDDhhmm)."""
    loop = asyncio.get_running_loop()
    delivered: list[ShortMessage] = []
    arrived = asyncio.Event()

    def on_request(link: Link, pdu: Any) -> None:
        link.respond(pdu)
        delivered.append(pdu.body)
        arrived.set()

    _, link = await loop.create_connection(lambda: Link(on_request), "127.0.0.1", scripted.port)
    try:
        assert (await asyncio.wait_for(link.request(Command.BIND_TRANSCEIVER, Bind("yz")),
                                       5)).status == Status.ROK
        before = stamp_now()
        template = SubmitTemplate(source_ton=0, source_npi=1, dest_ton=1, dest_npi=1)
        ids = []
        for number in (1, 2, 3):
            udh = bytes((5, 0, 3, 7, 3, number))
            answer = await asyncio.wait_for(link.request(Command.SUBMIT_SM, template.body(
                "10690010042", "8613800138000", udh + f"part {number}".encode(), 0,
                ESM_UDHI)), 5)
            ids.append(answer.body.message_id)
        while len(delivered) < 3:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 5)
        after = stamp_now()
    finally:
        link.close()
    fields = [parse_text(sm.short_message.decode("latin-1")) for sm in delivered]
    assert sorted(f["id"] for f in fields) == sorted(ids) and len(set(ids)) == 3
    for sm, found in zip(delivered, fields, strict=True):
        assert sm.esm_class & ESM_RECEIPT
        assert (sm.source_addr, sm.destination_addr) == ("8613800138000", "10690010042")
        assert (sm.source_addr_ton, sm.source_addr_npi) == (1, 1)
        for key in ("submit date", "done date"):
            assert re.fullmatch(r"\d{10}", found[key]) and before <= found[key] <= after
        assert (found["stat"], found["sub"], found["dlvrd"]) == ("DELIVRD", "001", "001")


def stamp_now() -> str:
    return datetime.now(UTC).strftime("%y%m%d%H%M")


async def test_our_channel_folds_part_receipts_and_reads_the_handset_and_submit_date(
        scripted: Scripted) -> None:
    """issue 14 point 23: the parts' receipts (one per part) make one receipt for the
    message, under its first part's id, carrying the handset and the submit date."""
    sink = Sink()
    channel = await scripted.channel(sink)
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    result = await channel.submit(req(1, text="【驿站】" + "验" * 100))  # two parts
    [receipt] = await sink.wait_for(1)

    async def both_answered() -> bool:  # both parts' receipts were taken
        return scripted.smsc.receipts_acked == 2

    await eventually(both_answered, 5, "both receipts answered")
    assert isinstance(result, Accepted) and isinstance(receipt, Receipt)
    assert len(sink.events) == 1
    assert (receipt.remote_id, receipt.code, receipt.status) == (
        result.remote_id, "DELIVRD", "success")
    assert receipt.phone == "+8613800138000"
    assert receipt.submitted_at is not None
    assert before <= receipt.submitted_at <= datetime.now(UTC)


async def test_the_submit_log_has_a_line_per_submit_sm_received(
        clock: ManualClock, tmp_path: Path) -> None:
    """Issue 14 point 3: what reached the carrier, refused ones included, is in the log as
    it arrives (the crash tests read it while the simulator runs)."""
    log = tmp_path / "submits.jsonl"
    smsc = SmscServer(Script(default=Outcome(delay=FAST), numbers={
        "13800000002": Outcome(submit="reject:ESME_RINVDSTADR")}), submit_log=log)
    made = Scripted(smsc, await smsc.start(), clock)
    try:
        channel = await made.channel(Sink())
        assert isinstance(await channel.submit(req(1, text="【驿站】验证码 1")), Accepted)
        assert isinstance(await channel.submit(req(2, "+8613800000002")), Rejected)
        lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    finally:
        for opened in made.channels:
            await opened.stop()
        await smsc.stop()
    assert [(s["destination"], s["text"]) for s in lines] == [
        ("8613800138000", "【驿站】验证码 1"), ("8613800000002", "【驿站】验证码 1234")]
    assert lines[0]["source"].startswith("106")
