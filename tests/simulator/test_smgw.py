"""The SMGP simulator over loopback, driven by a bare SMGP client written here with the codec:
the login's checks both ways, the per-number script (reports, rejections, throttling, a hung
or dropped submit, duplicate and early reports, a handset's long reply), reports held for a
receiving login and offered again until answered, the manual mode, Active_Test and Exit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.dispatch.channels.smgp_pdu import (
    Command,
    Deliver,
    Framer,
    Login,
    LoginMode,
    LoginResp,
    MsgIdResp,
    Pdu,
    Status,
    Submit,
    decode,
    encode,
)
from yizhan.dispatch.channels.smgp_text import (
    MsgFmt,
    MsgId,
    check_server,
    client_authenticator,
    contents,
    decode_report,
    reassemble,
)
from yizhan.simulator import smgw
from yizhan.simulator.smgw import SmgwServer

ACCOUNT, SECRET = "SP000001", "s3cret"
STAMP = 1207185300
WAIT = 5.0


class Client:
    """An SP's end of one link: sends PDUs, reads them back one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = Framer()
        self.frames: list[bytes] = []
        self.sequence = 0

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, command: Command, body: object = None, sequence: int = 0) -> int:
        if not sequence:
            self.sequence += 1
            sequence = self.sequence
        self.writer.write(encode(Pdu(command, sequence, body)))  # type: ignore[arg-type]
        return sequence

    async def read(self) -> Pdu:
        while not self.frames:
            data = await asyncio.wait_for(self.reader.read(65536), WAIT)
            if not data:
                raise ConnectionError("the simulator closed the link")
            self.frames += self.framer.feed(data)
        return decode(self.frames.pop(0))

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(65536), WAIT) == b""

    async def login(self, mode: int = LoginMode.TRANSMIT, secret: str = SECRET,
                    account: str = ACCOUNT, version: int = 0x30) -> LoginResp:
        auth = client_authenticator(account, secret, STAMP)
        self.send(Command.LOGIN, Login(account, auth, mode, STAMP, version))
        pdu = await self.read()
        assert pdu.command is Command.LOGIN_RESP and isinstance(pdu.body, LoginResp)
        if pdu.body.status == 0:
            assert check_server(pdu.body.authenticator, 0, auth, SECRET)
        return pdu.body

    def submit(self, dest: str, text: str = "【驿站】验证码 1234", **fields: object) -> int:
        return self.send(Command.SUBMIT, Submit(
            dest_term_ids=[dest], msg_content=text.encode("utf-16-be"),
            msg_format=MsgFmt.UCS2, src_term_id="1065900012345", need_report=1,
            **fields))  # type: ignore[arg-type]

    async def answer(self, pdu: Pdu, status: int = Status.OK) -> None:
        assert isinstance(pdu.body, Deliver)
        self.send(Command.DELIVER_RESP, MsgIdResp(pdu.body.msg_id, status), pdu.sequence)

    def close(self) -> None:
        self.writer.close()


SCRIPT = Script(Outcome(delay=0.0), {
    "+8613300000001": Outcome(code="UNDELIV", delay=0.0),
    "+8613300000002": Outcome(submit="reject:47"),
    "+8613300000003": Outcome(submit="throttle"),
    "+8613300000004": Outcome(submit="hang"),
    "+8613300000005": Outcome(submit="drop"),
    "+8613300000006": Outcome(delay=0.0, receipts=2),
    "+8613300000007": Outcome(delay=0.0, receipt_first=True),
    "+8613300000008": Outcome(delay=0.0, uplink="收到，谢谢。" * 20),
}, keywords={"赌博": "MK:0005"})


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[SmgwServer, int]]:
    sim = SmgwServer(SCRIPT, accounts={ACCOUNT: SECRET}, submit_log=tmp_path / "submits.log")
    port = await sim.start()
    yield sim, port
    await sim.stop()


async def logged_in(port: int, mode: int = LoginMode.TRANSMIT) -> Client:
    client = await Client.connect(port)
    assert (await client.login(mode)).status == Status.OK
    return client


# ---- login -------------------------------------------------------------------------------


async def test_a_login_is_checked_and_answered_with_the_servers_proof(
        server: tuple[SmgwServer, int]) -> None:
    sim, port = server
    client = await logged_in(port)
    assert sim.logged_in.is_set()
    client.close()
    for kwargs, status in (({"secret": "wrong"}, Status.AUTH_FAILED),
                           ({"account": "SP999999"}, Status.AUTH_FAILED),
                           ({"version": 0x31}, Status.VERSION_TOO_HIGH)):
        refused = await Client.connect(port)
        assert (await refused.login(**kwargs)).status == status  # type: ignore[arg-type]
        assert await refused.closed()


async def test_a_submit_before_login_or_on_a_receive_login_is_refused(
        server: tuple[SmgwServer, int]) -> None:
    _, port = server
    client = await Client.connect(port)
    client.submit("13300000000")
    pdu = await client.read()
    assert isinstance(pdu.body, MsgIdResp) and pdu.body.status == Status.BAD_COMMAND
    receiver = await logged_in(port, LoginMode.RECEIVE)
    receiver.submit("13300000000")
    pdu = await receiver.read()
    assert isinstance(pdu.body, MsgIdResp) and pdu.body.status == Status.BAD_COMMAND


# ---- the script --------------------------------------------------------------------------


async def test_a_submit_gets_a_bcd_msg_id_and_its_report_in_a_deliver(
        server: tuple[SmgwServer, int], tmp_path: Path) -> None:
    sim, port = server
    client = await logged_in(port)
    for dest, stat in (("13300000000", "DELIVRD"), ("8613300000001", "UNDELIV")):
        sequence = client.submit(dest)
        resp = await client.read()
        assert resp.command is Command.SUBMIT_RESP and resp.sequence == sequence
        assert isinstance(resp.body, MsgIdResp) and resp.body.status == Status.OK
        assert MsgId.unpack(resp.body.msg_id).gateway == smgw.GATEWAY_CODE
        report = await client.read()
        assert isinstance(report.body, Deliver) and report.body.is_report == 1
        assert (report.body.src_term_id, report.body.dest_term_id) == (dest, "1065900012345")
        read = decode_report(report.body.msg_content)
        assert (read.msg_id, read.stat) == (resp.body.msg_id, stat)
        await client.answer(report)
    lines = (tmp_path / "submits.log").read_bytes().splitlines()
    assert [orjson.loads(line)["destination"] for line in lines] == [
        "13300000000", "8613300000001"]
    assert orjson.loads(lines[0])["text"] == "【驿站】验证码 1234"
    assert sim.submitted == 2


async def test_rejected_throttled_hung_and_dropped_submits(
        server: tuple[SmgwServer, int]) -> None:
    _, port = server
    client = await logged_in(port)
    for dest, status in (("13300000002", 47), ("13300000003", Status.SYSTEM_BUSY)):
        client.submit(dest)
        pdu = await client.read()
        assert isinstance(pdu.body, MsgIdResp)
        assert (pdu.body.status, pdu.body.msg_id) == (status, bytes(10))
    hung = client.submit("13300000004")
    active = client.send(Command.ACTIVE_TEST)  # the link lives on; the submit is unanswered
    pdu = await client.read()
    assert (pdu.command, pdu.sequence) == (Command.ACTIVE_TEST_RESP, active)
    assert hung != active
    client.submit("13300000005")
    assert await client.closed()


async def test_duplicate_early_reports_and_a_long_reply(server: tuple[SmgwServer, int]) -> None:
    _, port = server
    client = await logged_in(port)
    client.submit("13300000006")
    resp, first, second = await client.read(), await client.read(), await client.read()
    assert isinstance(resp.body, MsgIdResp)
    for report in (first, second):
        assert isinstance(report.body, Deliver)
        assert decode_report(report.body.msg_content).msg_id == resp.body.msg_id
    client.submit("13300000007")
    early, resp = await client.read(), await client.read()
    assert (early.command, resp.command) == (Command.DELIVER, Command.SUBMIT_RESP)
    client.submit("13300000008")
    await client.read()  # Submit_Resp
    pdus = [await client.read() for _ in range(3)]  # the report, then the reply's 2 parts
    parts = [p.body for p in pdus if isinstance(p.body, Deliver) and not p.body.is_report]
    assert [(p.tlvs.tp_udhi, p.tlvs.pk_total, p.tlvs.pk_number) for p in parts] == [
        (1, 2, 1), (1, 2, 2)]
    assert parts[0].src_term_id == "13300000008"
    assert parts[0].dest_term_id == "1065900012345"  # back to the number it replied to
    assert reassemble([p.msg_content for p in parts], parts[0].msg_format) == "收到，谢谢。" * 20


async def test_keywords_are_intercepted(server: tuple[SmgwServer, int]) -> None:
    _, port = server
    client = await logged_in(port)
    client.submit("13300000000", "【驿站】赌博广告")
    await client.read()
    report = await client.read()
    assert isinstance(report.body, Deliver)
    assert decode_report(report.body.msg_content).stat == "MK:0005"


async def test_over_the_rate_submits_are_answered_system_busy() -> None:
    sim = SmgwServer(Script(Outcome(receipts=0)), accounts={ACCOUNT: SECRET},
                     max_per_second=2)
    port = await sim.start()
    try:
        client = await logged_in(port)
        for _ in range(3):
            client.submit("13300000000")
        statuses = []
        for _ in range(3):
            pdu = await client.read()
            assert isinstance(pdu.body, MsgIdResp)
            statuses.append(pdu.body.status)
        assert statuses == [Status.OK, Status.OK, Status.SYSTEM_BUSY]
    finally:
        await sim.stop()


# ---- reports held and offered again ------------------------------------------------------


async def test_reports_wait_for_a_receiving_login_and_are_offered_until_answered(
        server: tuple[SmgwServer, int], monkeypatch: pytest.MonkeyPatch) -> None:
    sim, port = server
    monkeypatch.setattr(smgw, "RETRY_SECONDS", 0.01)
    sender = await logged_in(port, LoginMode.SEND)
    sender.submit("13300000000")
    resp = await sender.read()
    assert isinstance(resp.body, MsgIdResp)
    await asyncio.wait_for(sim.holding.wait(), WAIT)
    receiver = await logged_in(port, LoginMode.RECEIVE)
    report = await receiver.read()
    await receiver.answer(report, Status.SYSTEM_BUSY)  # not taken: offered again
    again = await receiver.read()
    assert isinstance(again.body, Deliver) and isinstance(report.body, Deliver)
    assert again.body.msg_content == report.body.msg_content
    await receiver.answer(again)
    receiver.send(Command.ACTIVE_TEST)
    assert (await receiver.read()).command is Command.ACTIVE_TEST_RESP
    assert sim.receipts_acked == 1


async def test_a_report_whose_link_drops_unanswered_goes_to_the_next_login(
        server: tuple[SmgwServer, int], monkeypatch: pytest.MonkeyPatch) -> None:
    _, port = server
    monkeypatch.setattr(smgw, "RETRY_SECONDS", 0.01)
    client = await logged_in(port)
    client.submit("13300000000")
    await client.read()
    first = await client.read()
    client.close()  # never answered
    again = await (await logged_in(port)).read()
    assert isinstance(first.body, Deliver) and isinstance(again.body, Deliver)
    assert again.body.msg_content == first.body.msg_content


async def test_a_report_left_unanswered_is_offered_again(
        server: tuple[SmgwServer, int], monkeypatch: pytest.MonkeyPatch) -> None:
    _, port = server
    monkeypatch.setattr(smgw, "ANSWER_SECONDS", 0.01)
    monkeypatch.setattr(smgw, "RETRY_SECONDS", 0.01)
    client = await logged_in(port)
    client.submit("13300000000")
    await client.read()
    first, again = await client.read(), await client.read()  # the first never answered
    assert isinstance(first.body, Deliver) and isinstance(again.body, Deliver)
    assert again.body.msg_content == first.body.msg_content
    assert again.sequence != first.sequence


# ---- manual mode, Exit, broken peers -----------------------------------------------------


async def test_the_manual_mode_answers_what_the_test_says() -> None:
    sim = SmgwServer(manual=True, accounts={ACCOUNT: SECRET})
    port = await sim.start()
    try:
        client = await logged_in(port)
        text = "您的验证码是一二三四，五分钟内有效，请勿泄露给他人。" * 4
        parts = contents(text, MsgFmt.UCS2, 7)
        for part in parts:
            client.send(Command.SUBMIT, Submit(
                dest_term_ids=["13300000000"], msg_content=part, msg_format=MsgFmt.UCS2,
                src_term_id="10659000123"))
            incoming = await sim.expect()
            assert incoming.submit.msg_content == part
        busy = sim.answer(incoming, Status.SYSTEM_BUSY)
        assert busy == bytes(10)
        pdus = [await client.read()]
        client.submit("13300000000", "hi")
        given = sim.answer(await sim.expect())
        pdus.append(await client.read())
        assert [p.body.status for p in pdus if isinstance(p.body, MsgIdResp)] == [1, 0]
        answer = asyncio.create_task(sim.receipt(given, "EXPIRED", err="006"))
        report = await client.read()
        assert isinstance(report.body, Deliver)
        read = decode_report(report.body.msg_content)
        assert (read.msg_id, read.stat, read.err) == (given, "EXPIRED", "006")
        assert report.body.src_term_id == "13300000000"
        await client.answer(report, Status.OK)
        assert isinstance((await answer).body, MsgIdResp)
        reply = asyncio.create_task(sim.uplink("13300000000", "106590001230", "TD"))
        mo = await client.read()
        assert isinstance(mo.body, Deliver) and (mo.body.is_report, mo.body.msg_content) == (
            0, b"TD")
        await client.answer(mo)
        await reply
        sim.drop()
        assert await client.closed()
    finally:
        await sim.stop()


async def test_exit_is_answered_and_garbage_closes_the_link(
        server: tuple[SmgwServer, int]) -> None:
    sim, port = server
    client = await logged_in(port)
    sequence = client.send(Command.EXIT)
    pdu = await client.read()
    assert (pdu.command, pdu.sequence, sim.exits) == (Command.EXIT_RESP, sequence, 1)
    assert await client.closed()
    broken = await Client.connect(port)
    broken.writer.write(b"\x00\x00\x00\x05garbage")  # PacketLength 5: no PDU is that short
    assert await broken.closed()
