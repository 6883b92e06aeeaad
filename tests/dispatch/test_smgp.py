"""The SMGP channel (our SP) against the SMGP simulator over loopback, step by step: the login
both ways, what a Submit carries, each Submit_Resp as a result (throttling halves the window),
long messages in parts with their receipts folded, reports through the code table, replies
attributed by extension (a long one reassembled), a cut link (ambiguous, then logged in
again), Active_Test and Exit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ManualClock
from tests.dispatch.test_smpp import Sink
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.dispatch.channels.smgp import SmgpChannel, SmgpConfig, code_table
from yizhan.dispatch.channels.smgp_pdu import Command, Status
from yizhan.dispatch.channels.smgp_text import MsgFmt, MsgId, decode_text, reassemble
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable, SubmitRequest
from yizhan.simulator.smgw import SmgwServer, reply_delivers

ACCOUNT, SECRET = "SP000001", "s3cret"


class Rig:
    def __init__(self, sim: SmgwServer, channel: SmgpChannel, sink: Sink,
                 clock: ManualClock) -> None:
        self.sim, self.channel, self.sink, self.clock = sim, channel, sink, clock

    def send(self, text: str = "【驿站】验证码 1234", phone: str = "+8613300000000",
             n: int = 1, extension: str = "12") -> asyncio.Task[Any]:
        return asyncio.create_task(self.channel.submit(
            SubmitRequest(n, phone, text, 1, extension=extension)))


async def rig_for(clock: ManualClock, sim: SmgwServer | None = None,
                  **config: Any) -> Rig:
    sim = sim or SmgwServer(manual=True, accounts={ACCOUNT: SECRET})
    port = await sim.start()
    settings: dict[str, Any] = dict(secret=SECRET, channel_code="5901", reconnect_min=0.05,
                                    reconnect_max=0.2, response_timeout=5.0,
                                    service_id="MYZ0001")
    settings.update(config)
    channel = SmgpChannel(SmgpConfig("ctcc", "127.0.0.1", port, ACCOUNT, **settings), clock)
    sink = Sink()
    await channel.start(sink)
    return Rig(sim, channel, sink, clock)


@pytest.fixture
async def rig(clock: ManualClock) -> AsyncIterator[Rig]:
    made = await rig_for(clock)
    await asyncio.wait_for(made.channel.bound.wait(), 5)
    yield made
    await made.channel.stop()
    await made.sim.stop()


async def test_a_submit_carries_the_channel_settings_and_returns_the_msg_id(rig: Rig) -> None:
    task = rig.send()
    got = await rig.sim.expect()
    submit = got.submit
    assert submit.dest_term_ids == ["13300000000"]
    assert submit.src_term_id == "106590112"  # 106 + channel code + extension
    assert (submit.service_id, submit.need_report, submit.msg_format) == ("MYZ0001", 1,
                                                                         MsgFmt.UCS2)
    assert got.text == "【驿站】验证码 1234"
    msg_id = rig.sim.answer(got)
    assert await task == Accepted(msg_id.hex())
    assert MsgId.unpack(msg_id).gateway == 591234


async def test_a_report_becomes_a_receipt_classified_with_the_code_table(rig: Rig) -> None:
    task = rig.send()
    msg_id = rig.sim.answer(await rig.sim.expect())
    await task
    answer = await rig.sim.receipt(msg_id, "DELIVRD")
    assert answer.body.status == Status.OK  # type: ignore[union-attr]
    task = rig.send(n=2)
    failed_id = rig.sim.answer(await rig.sim.expect())
    await task
    await rig.sim.receipt(failed_id, "UNDELIV", err="612")
    first, second = await rig.sink.wait_for(2)
    assert isinstance(first, Receipt) and isinstance(second, Receipt)
    assert (first.remote_id, first.code, first.status) == (msg_id.hex(), "DELIVRD",
                                                           "success")
    assert (second.code, second.status, second.phone) == ("UNDELIV", "failed",
                                                          "+8613300000000")
    assert "stat:UNDELIV err:612" in second.raw and second.submitted_at is not None


async def test_the_channels_own_code_table_reads_err_over_the_builtin(
        clock: ManualClock, tmp_path: Path) -> None:
    own = tmp_path / "ctcc.codes.toml"
    own.write_text('[codes."UNDELIV/612"]\ncode = "MK:0001"\n'
                   '[codes.ENROUTE]\nstatus = "waiting"\n')
    table = code_table(own)
    assert table.explain("SMGP:47") is not None  # the built-in table is still there
    made = await rig_for(clock, codes=table)
    try:
        await asyncio.wait_for(made.channel.bound.wait(), 5)
        task = made.send()
        msg_id = made.sim.answer(await made.sim.expect())
        await task
        await made.sim.receipt(msg_id, "ENROUTE")
        await made.sim.receipt(msg_id, "UNDELIV", err="612")
        [receipt] = await made.sink.wait_for(1)
        assert isinstance(receipt, Receipt) and receipt.code == "MK:0001"
    finally:
        await made.channel.stop()
        await made.sim.stop()


async def test_each_submit_resp_status_becomes_a_result(rig: Rig) -> None:
    task = rig.send()
    rig.sim.answer(await rig.sim.expect(), 47)
    result = await task
    assert isinstance(result, Rejected) and result.code == "SMGP:47"
    assert "BAD_DEST_TERM_ID (47)" in result.reason
    explained = rig.channel.config.codes.explain("SMGP:47")
    assert explained is not None and "DestTermId" in explained.cause
    assert rig.channel.window_use == (0, 100, 100)
    task = rig.send()
    rig.sim.answer(await rig.sim.expect(), Status.SYSTEM_BUSY)
    assert isinstance(await task, Retryable)
    assert rig.channel.window_use == (0, 50, 100)  # throttled: the window halves


async def test_a_long_message_goes_in_parts_and_its_receipts_fold(rig: Rig) -> None:
    text = "【驿站】" + "您的验证码是一二三四，五分钟内有效，请勿泄露给他人。" * 4
    task = rig.send(text)
    ids, contents = [], []
    for number in (1, 2):
        got = await rig.sim.expect()
        tlvs = got.submit.tlvs
        assert (tlvs.tp_udhi, tlvs.pk_total, tlvs.pk_number) == (1, 2, number)
        contents.append(got.submit.msg_content)
        ids.append(rig.sim.answer(got))
    assert await task == Accepted(ids[0].hex())
    assert reassemble(contents, MsgFmt.UCS2) == text
    for msg_id in ids:
        await rig.sim.receipt(msg_id, "DELIVRD")
    [receipt] = await rig.sink.wait_for(1)
    assert isinstance(receipt, Receipt) and receipt.remote_id == ids[0].hex()


async def test_replies_are_attributed_by_extension_and_long_ones_reassembled(rig: Rig) -> None:
    await rig.sim.uplink("13300000000", "106590112", "R")
    long_reply = "收到，谢谢。请不要再发了。" * 8
    parts = reply_delivers("13300000000", "106590134", long_reply, 9)
    assert len(parts) == 2
    answers = [asyncio.create_task(rig.sim.deliver(p)) for p in reversed(parts)]
    short, whole = await rig.sink.wait_for(2)
    assert isinstance(short, Uplink) and isinstance(whole, Uplink)
    assert (short.phone, short.content, short.extension) == ("+8613300000000", "R", "12")
    assert (whole.content, whole.extension) == (long_reply, "34")
    for answer in answers:
        assert (await answer).body.status == Status.OK  # type: ignore[union-attr]


async def test_a_deliver_the_sink_could_not_store_is_answered_busy(rig: Rig) -> None:
    rig.sink.fail = True
    answer = await rig.sim.uplink("13300000000", "106590112", "hi")
    assert answer.body.status == Status.SYSTEM_BUSY  # type: ignore[union-attr]


async def test_a_gbk_reply_reads_right(rig: Rig) -> None:
    [part] = reply_delivers("13300000000", "106590112", "好", 1)
    part.msg_format, part.msg_content = MsgFmt.GBK, "退订".encode("gbk")
    await rig.sim.deliver(part)
    [uplink] = await rig.sink.wait_for(1)
    assert isinstance(uplink, Uplink) and uplink.content == "退订"
    assert decode_text("退订".encode("gbk"), MsgFmt.GBK) == "退订"


async def test_a_cut_link_leaves_the_submit_ambiguous_and_logs_in_again(rig: Rig) -> None:
    task = rig.send()
    await rig.sim.expect()
    rig.sim.drop()
    result = await task
    assert isinstance(result, Ambiguous) and "Submit_Resp" in result.reason
    await rig.clock.sleepers(1)
    rig.clock.advance(seconds=rig.channel.config.reconnect_max)
    await asyncio.wait_for(rig.channel.bound.wait(), 5)
    assert rig.channel.binds == 2


async def test_a_refused_login_and_a_gateway_without_the_secret_do_not_bind(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    for sim, words in ((SmgwServer(manual=True, accounts={ACCOUNT: "other"}),
                        "AUTH_FAILED (21)"),
                       (SmgwServer(manual=True), "AuthenticatorServer does not match")):
        made = await rig_for(clock, sim)
        try:
            await clock.sleepers(1)  # the channel waits out its back-off, not bound
            assert not made.channel.bound.is_set()
            assert words in caplog.text
        finally:
            await made.channel.stop()
            await made.sim.stop()


async def test_exit_both_ways_and_active_test(clock: ManualClock) -> None:
    sim = SmgwServer(Script(Outcome(delay=0.0)), accounts={ACCOUNT: SECRET})
    made = await rig_for(clock, sim, active_test_seconds=0.5)
    try:
        await asyncio.wait_for(made.channel.bound.wait(), 5)
        result = await made.channel.submit(SubmitRequest(1, "+8613300000000", "hi", 1))
        assert isinstance(result, Accepted)
        [receipt] = await made.sink.wait_for(1)
        assert isinstance(receipt, Receipt) and receipt.status == "success"
        # the link is quiet: the once-a-second sweep sends Active_Test, on the loop's clock
        await asyncio.wait_for(sim.active_tested.wait(), 5)
    finally:
        await made.channel.stop()
        await sim.stop()
    assert sim.exits == 1  # stop says Exit


async def test_a_gateways_exit_is_answered_and_the_channel_logs_in_again(rig: Rig) -> None:
    link = rig.sim.links[0]
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    link.request(Command.EXIT, None, answer)  # type: ignore[arg-type]
    assert (await asyncio.wait_for(answer, 5)).command is Command.EXIT_RESP
    await rig.clock.sleepers(1)
    rig.clock.advance(seconds=rig.channel.config.reconnect_min)
    await asyncio.wait_for(rig.channel.bound.wait(), 5)  # cleared when the link closed
    assert rig.channel.binds == 2 and rig.sim.exits == 0


def test_the_docs_channel_file_example_loads(tmp_path: Path) -> None:
    """docs/channels.md "SMGP": its complete channel file is valid as written."""
    from yizhan.dispatch.channel_file import build_plan, load_plan
    from yizhan.simulator.smsc import SmscServer

    doc = (Path(__file__).parents[2] / "docs" / "channels.md").read_text(encoding="utf-8")
    section = doc[doc.index("**A complete channel file** with one SMGP channel"):]
    start = section.index("```toml") + 7
    example = section[start:section.index("```", start)]
    (tmp_path / "ctcc.codes.toml").write_text('[codes."UNDELIV/612"]\ncode = "MK:0001"\n')
    (tmp_path / "channels.toml").write_text(example)
    plan = load_plan(tmp_path / "channels.toml")
    assert [(c.name, c.kind) for c in plan.channels] == [("ctcc", "smgp"), ("backup", "smpp")]
    [ctcc, _] = build_plan(plan, ManualClock(), smsc=SmscServer).channels
    assert isinstance(ctcc, SmgpChannel)
    config = ctcc.config
    assert (config.client_id, config.channel_code, config.receipt_utc_offset) == (
        "SP000001", "5901", 8)
    assert config.codes.read("UNDELIV", "612")[1] == "MK:0001"
    assert ctcc.config.codes.explain("SMGP:75") is not None


async def test_an_answer_that_cannot_be_read_leaves_the_submit_ambiguous(rig: Rig) -> None:
    from yizhan.dispatch.channels.smgp_pdu import MsgIdResp, Pdu, encode

    task = rig.send()
    got = await rig.sim.expect()
    frame = encode(Pdu(Command.SUBMIT_RESP, got.pdu.sequence, MsgIdResp(bytes(10), 0)))
    assert got.link.transport is not None
    longer = (len(frame) + 1).to_bytes(4, "big")  # an octet after Status: not SMGP 3.0's
    got.link.transport.write(longer + frame[4:] + b"\0")
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Ambiguous) and "malformed Submit_Resp" in result.reason
