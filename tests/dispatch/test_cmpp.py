"""The CMPP channel (our SP client) against the simulated gateway driven step by step: the
login's authenticators, what a CMPP_SUBMIT carries (service code and extension, Service_Id,
fees, Msg_Fmt, the version's layout), the Msg_Id as the message's remote id, the code table
a report's Stat goes through, and the gateway's keep-alive and goodbye. What every protocol
does alike (window, reconnect, throttling, long messages, receipts, replies, ambiguity) is
the contract suite's (tests/contract/test_channels.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ManualClock
from tests.contract.gateways import Sink
from yizhan.dispatch.channels.cmpp import CmppChannel, CmppConfig
from yizhan.dispatch.channels.cmpp_pdu import Command, ConnectResp, Pdu, Version, encode
from yizhan.dispatch.channels.cmpp_text import MsgFmt, MsgId
from yizhan.domain.codes import CodeEntry, CodeTable
from yizhan.domain.events import Receipt
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import Accepted, Ambiguous, SubmitRequest
from yizhan.simulator.ismg import IsmgServer

SP, SECRET = "901234", "s3cret"


class Rig:
    def __init__(self, ismg: IsmgServer, channel: CmppChannel, sink: Sink) -> None:
        self.ismg, self.channel, self.sink = ismg, channel, sink

    def send(self, text: str = "【驿站】验证码 1234", extension: str = "") -> asyncio.Task[Any]:
        return asyncio.create_task(self.channel.submit(
            SubmitRequest(1, "+8613800138000", text, 1, extension=extension)))


async def rig_for(clock: ManualClock, **settings: Any) -> Rig:
    ismg = IsmgServer(manual=True, accounts={SP: SECRET})
    port = await ismg.start()
    config: dict[str, Any] = dict(password=SECRET, service_code="1069001",
                                  reconnect_min=0.05, reconnect_max=0.2)
    config.update(settings)
    channel = CmppChannel(CmppConfig("cmcc", "127.0.0.1", port, SP, **config), clock)
    sink = Sink()
    await channel.start(sink)
    return Rig(ismg, channel, sink)


@pytest.fixture
async def rig(clock: ManualClock) -> AsyncIterator[Rig]:
    made = await rig_for(clock)
    await asyncio.wait_for(made.channel.bound.wait(), 5)
    yield made
    await made.channel.stop()
    await made.ismg.stop()


@pytest.mark.parametrize("version", ["2.0", "3.0"])
async def test_a_submit_carries_the_channel_settings_in_the_versions_layout(
        clock: ManualClock, version: str) -> None:
    rig = await rig_for(clock, version=version, service_id="MYZ0001", fee_user_type=2,
                        fee_type="02", fee_code="000005", msg_level=1)
    try:
        await asyncio.wait_for(rig.channel.bound.wait(), 5)
        assert rig.ismg.links[0].version == (0x30 if version == "3.0" else 0x20)
        task = rig.send(extension="0042")
        got = await rig.ismg.expect()
        body = got.submit
        assert (body.src_id, body.dest_terminal_ids, body.msg_src) == (
            "10690010042", ["13800138000"], SP)
        assert (body.service_id, body.fee_user_type, body.fee_type, body.fee_code) == (
            "MYZ0001", 2, "02", "000005")
        assert (body.registered_delivery, body.msg_level, body.msg_fmt) == (1, 1, MsgFmt.UCS2)
        assert got.text == "【驿站】验证码 1234"
        msg_id = MsgId(12, 7, 21, 30, 5, 77, 9).pack()
        rig.ismg.answer(got, msg_id=msg_id)
        assert await asyncio.wait_for(task, 5) == Accepted(str(msg_id))
    finally:
        await rig.channel.stop()
        await rig.ismg.stop()


@pytest.mark.parametrize(("encoding", "text", "fmt"), [
    ("auto", "Code 1234", MsgFmt.ASCII), ("auto", "验证码 1234", MsgFmt.UCS2),
    ("gbk", "验证码 1234", MsgFmt.GBK), ("ucs2", "Code 1234", MsgFmt.UCS2)])
async def test_the_text_leaves_in_the_channels_encoding(
        clock: ManualClock, encoding: str, text: str, fmt: MsgFmt) -> None:
    rig = await rig_for(clock, encoding=encoding)
    try:
        await asyncio.wait_for(rig.channel.bound.wait(), 5)
        task = rig.send(text)
        got = await rig.ismg.expect()
        assert got.submit.msg_fmt == fmt and got.text == text
        rig.ismg.answer(got)
        assert isinstance(await asyncio.wait_for(task, 5), Accepted)
    finally:
        await rig.channel.stop()
        await rig.ismg.stop()


async def test_a_wrong_secret_is_refused_and_the_channel_keeps_trying(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="yizhan.cmpp")
    rig = await rig_for(clock, password="wrong")
    try:
        await clock.sleepers(1)  # refused: it waits its back-off before trying again
        assert not rig.channel.ready
        said = [r.getMessage() for r in caplog.records if r.name == "yizhan.cmpp"]
        assert any("AUTH_FAILED (3)" in line for line in said)
    finally:
        await rig.channel.stop()
        await rig.ismg.stop()


async def test_a_gateway_that_does_not_know_the_secret_is_not_trusted(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    """AuthenticatorISMG proves the gateway knows the secret: a fake one is refused."""
    caplog.set_level(logging.WARNING, logger="yizhan.cmpp")

    async def impostor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(12)
        await reader.readexactly(int.from_bytes(header[:4], "big") - 12)
        writer.write(encode(Pdu(Command.CONNECT_RESP, int.from_bytes(header[8:], "big"),
                                ConnectResp(0, bytes(16), 0x30)), Version.V30))
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(impostor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    channel = CmppChannel(CmppConfig("cmcc", "127.0.0.1", port, SP, password=SECRET), clock)
    await channel.start(Sink())
    try:
        await clock.sleepers(1)
        assert not channel.ready
        said = [r.getMessage() for r in caplog.records if r.name == "yizhan.cmpp"]
        assert any("AuthenticatorISMG does not match" in line for line in said)
    finally:
        await channel.stop()
        server.close()


async def test_a_report_stat_goes_through_the_channels_code_table(clock: ManualClock) -> None:
    table = CodeTable({"ID:0012": CodeEntry(MessageStatus.FAILED, "isv.MOBILE_NUMBER_ILLEGAL",
                                            "empty number"),
                       "ENROUTE": CodeEntry(MessageStatus.WAITING)})
    rig = await rig_for(clock, codes=table)
    try:
        await asyncio.wait_for(rig.channel.bound.wait(), 5)
        task = rig.send()
        msg_id = rig.ismg.answer(await rig.ismg.expect())
        await task
        assert (await rig.ismg.report(msg_id, "ENROUTE")).body.result == 0  # type: ignore[union-attr]
        assert (await rig.ismg.report(msg_id, "ID:0012")).body.result == 0  # type: ignore[union-attr]
        await asyncio.wait_for(rig.sink.arrived.wait(), 5)
        (receipt,) = rig.sink.events  # ENROUTE is not final: no event
        assert isinstance(receipt, Receipt)
        assert (receipt.code, receipt.status) == ("isv.MOBILE_NUMBER_ILLEGAL", "failed")
        assert receipt.submitted_at is not None and "stat:ID:0012" in receipt.raw
    finally:
        await rig.channel.stop()
        await rig.ismg.stop()


async def test_the_gateways_active_test_is_answered_and_its_terminate_binds_again(
        rig: Rig, clock: ManualClock) -> None:
    link = rig.ismg.links[0]
    answer = await asyncio.wait_for(link.request(Command.ACTIVE_TEST), 5)
    assert answer.command is Command.ACTIVE_TEST_RESP
    answer = await asyncio.wait_for(link.request(Command.TERMINATE), 5)
    assert answer.command is Command.TERMINATE_RESP
    await clock.sleepers(1)
    clock.advance(seconds=1.0)
    await asyncio.wait_for(rig.channel.bound.wait(), 5)
    assert rig.channel.binds == 2


PLAN = """
[[channel]]
name = "cmcc-cmpp"
kind = "cmpp"
host = "gw.example.cn"
port = 7890
source_addr = "901234"
password = "s3cret"
version = "2.0"
service_code = "1069001"
service_id = "MYZ0001"
fee_type = "02"
fee_code = "000005"
encoding = "gbk"
carrier = "china_mobile"
%s

[[route]]
name = "mobile"
carriers = ["china_mobile"]
channels = ["cmcc-cmpp"]
"""


def test_a_cmpp_channel_in_the_channel_file_is_built_and_routed(clock: ManualClock) -> None:
    from yizhan.dispatch.channel_file import build_plan, parse_plan
    plan = parse_plan(PLAN % "")
    spec = plan.channels[0]
    assert spec.number == "1069001" and spec.address == "gw.example.cn:7890"
    assert spec.sub_port("0042") is not None and spec.sub_port("0042").number == "10690010042"  # type: ignore[union-attr]
    built = build_plan(plan, clock, smsc=None)  # type: ignore[arg-type]
    (channel,) = built.channels
    assert isinstance(channel, CmppChannel) and built.registrars == {}
    config = channel.config
    assert (config.version, config.service_id, config.fee_type, config.fee_code,
            config.encoding) == ("2.0", "MYZ0001", "02", "000005", "gbk")
    assert config.codes.name == "cmpp"  # the CMPP table by default
    assert [r.name for r in built.router.routes] == ["mobile"]


@pytest.mark.parametrize(("extra", "said"), [
    ('window_size = 10', "unknown setting(s) window_size"),
    ('version = "4.0"', 'version must be "2.0" or "3.0"'),
    ('retryable = ["FLOW"]', "retryable must be a list of CMPP_SUBMIT_RESP Results"),
])
def test_a_wrong_cmpp_setting_is_refused_with_its_name(extra: str, said: str) -> None:
    from yizhan.dispatch.channel_file import PlanError, parse_plan
    text = PLAN % extra
    if extra.startswith("version"):
        text = text.replace('version = "2.0"\n', "")
    with pytest.raises(PlanError, match="cmcc-cmpp") as refused:
        parse_plan(text)
    assert said in str(refused.value)


async def test_a_malformed_submit_answer_is_ambiguous_and_the_link_stays(rig: Rig) -> None:
    task = rig.send()
    got = await rig.ismg.expect()
    got.link.write(Command.SUBMIT_RESP, got.pdu.sequence, 0, b"\x00\x01")  # no Msg_Id
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Ambiguous) and "malformed CMPP_SUBMIT_RESP" in result.reason
    again = rig.send()
    rig.ismg.answer(await rig.ismg.expect(), msg_id=7)
    assert await asyncio.wait_for(again, 5) == Accepted("7") and rig.channel.binds == 1
