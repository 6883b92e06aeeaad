"""The simulated China Unicom gateway (SGIP SMG) run by the SMPP simulator's scripts, seen
from an SP over loopback: our Submits answered per number, and the Reports and replies it
sends by connecting back to the SP's listener, held and offered again while the listener
refuses it. Also step by step (`manual=True`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tests.conftest import eventually
from tests.dispatch.test_sgip_listener import GATEWAY, Handlers
from yizhan.dispatch.channels.sgip_link import Link, LinkClosed, bind
from yizhan.dispatch.channels.sgip_listener import Credentials, SgipListener
from yizhan.dispatch.channels.sgip_pdu import (
    Command,
    LoginType,
    Pdu,
    ReportState,
    Resp,
    Result,
    Sequence,
    Submit,
)
from yizhan.dispatch.channels.sgip_receipts import default_codes, receipt_of
from yizhan.dispatch.channels.sgip_text import MessageCoding, contents, reassemble, text_of
from yizhan.dispatch.channels.simulator import REAL_NAME_CODE, Outcome, Script
from yizhan.domain.codes import SIGN_NOT_REGISTERED, explain
from yizhan.simulator import sgip_smg
from yizhan.simulator.sgip_smg import ConnectBack, SmgServer, report_of

FAST = 0.01
SCRIPT = Script(Outcome(delay=FAST), {
    "+8613000000029": Outcome(code="29", delay=FAST),
    "+8613000000025": Outcome(code="EXPIRED", delay=FAST),
    "+8613000000006": Outcome(submit="reject:ILLEGAL_NUMBER"),
    "+8613000000011": Outcome(submit="throttle"),
    "+8613000000099": Outcome(submit="hang"),
    "+8613000000098": Outcome(submit="drop"),
    "+8613000000002": Outcome(receipts=2, delay=FAST),
    "+8613000000003": Outcome(receipt_first=True, delay=FAST),
    "+8613000000077": Outcome(uplink="R", delay=FAST),
    "+8613000000078": Outcome(uplink="好" * 100, delay=FAST),
}, {"赌博": "REJECTD"})


@dataclass
class Sp:
    """Our side: a Submit connection to the gateway and the listener it connects back to."""

    smg: SmgServer
    listener: SgipListener
    handlers: Handlers
    port: int

    async def connect(self, name: str = "yizhan", password: str = "s3cret",
                      login_type: int = LoginType.SP_TO_SMG) -> tuple[Link, int]:
        loop = asyncio.get_running_loop()
        _, link = await loop.create_connection(
            lambda: Link(lambda lk, pdu: None, node=3_057_112_345), "127.0.0.1", self.port)
        return link, await bind(link, login_type, name, password)

    async def submit(self, link: Link, number: str, text: str = "【驿站】验证码 1234",
                     timeout: float = 5.0, **fields: object) -> tuple[Sequence, Pdu]:
        coding = MessageCoding.UCS2
        fields.setdefault("sp_number", "10655012340001")
        body = Submit(user_numbers=[number], corp_id="12345",
                      message_content=contents(text, coding, 1)[0], message_coding=coding,
                      **fields)  # type: ignore[arg-type]
        sequence, future = link.send_request(Command.SUBMIT, body, timeout=timeout)
        return sequence, await asyncio.wait_for(future, timeout + 1)


def _result(pdu: Pdu) -> int:
    assert isinstance(pdu.body, Resp)
    return pdu.body.result


async def _async(value: object) -> object:
    """`eventually` takes an awaitable check: a value read now."""
    return value


async def _outcomes(sp: Sp, count: int) -> dict[Sequence, tuple[int, int]]:
    """The State and ErrorCode of each Report, by message id, once `count` have come."""
    await eventually(lambda: _async(len(sp.handlers.reports) == count), what="the reports")
    return {r.submit_sequence: (r.state, r.error_code) for r in sp.handlers.reports}


@pytest.fixture
async def sp() -> AsyncIterator[Sp]:
    handlers = Handlers()
    listener = SgipListener(GATEWAY, node=1, on_inbound=handlers)
    back = await listener.start()
    smg = SmgServer(SCRIPT, accounts={"yizhan": "s3cret"}, connect_back={
        "yizhan": ConnectBack("127.0.0.1", back, "unicom", "back-s3cret")})
    port = await smg.start()
    yield Sp(smg, listener, handlers, port)
    await smg.stop()
    await listener.stop()


async def test_a_submit_is_answered_and_its_report_comes_back_by_the_listener(sp: Sp) -> None:
    link, result = await sp.connect()
    assert result == Result.OK
    sequence, answer = await sp.submit(link, "8613000000001")
    assert answer.command is Command.SUBMIT_RESP and _result(answer) == Result.OK
    assert answer.sequence == sequence
    await eventually(lambda: _async(sp.handlers.reports), what="the report")
    (report,) = sp.handlers.reports
    assert report.submit_sequence == sequence  # the Submit's sequence is the message id
    assert (report.user_number, report.state, report.error_code) == \
        ("8613000000001", ReportState.DELIVERED, 0)
    assert sp.smg.submitted == 1
    await eventually(lambda: _async(sp.smg.reports_acked == 1), what="the ack")


async def test_per_number_failures_are_reports_with_their_error_code(sp: Sp) -> None:
    link, _ = await sp.connect()
    first, _ = await sp.submit(link, "8613000000029")
    second, _ = await sp.submit(link, "8613000000025")
    third, _ = await sp.submit(link, "8613000000001", text="【驿站】赌博")
    assert await _outcomes(sp, 3) == {first: (ReportState.FAILED, 29),
                                      second: (ReportState.FAILED, Result.USER_UNREACHABLE),
                                      third: (ReportState.FAILED, Result.NOT_SUPPORTED)}


async def test_refused_throttled_unanswered_and_dropped_submits(sp: Sp) -> None:
    link, _ = await sp.connect()
    _, rejected = await sp.submit(link, "8613000000006")
    assert _result(rejected) == Result.ILLEGAL_NUMBER
    _, throttled = await sp.submit(link, "8613000000011")
    assert _result(throttled) == Result.NODE_BUSY
    with pytest.raises(TimeoutError):
        await sp.submit(link, "8613000000099", timeout=0.2)
    with pytest.raises(LinkClosed):
        await sp.submit(link, "8613000000098")
    assert sp.handlers.reports == [] and sp.smg.submitted == 0


async def test_duplicates_early_reports_and_no_report_when_none_is_asked(sp: Sp) -> None:
    link, _ = await sp.connect()
    twice, _ = await sp.submit(link, "8613000000002")
    early, _ = await sp.submit(link, "8613000000003")
    await sp.submit(link, "8613000000004", report_flag=2)
    await eventually(lambda: _async(len(sp.handlers.reports) == 3), what="three reports")
    assert sorted(r.submit_sequence.number for r in sp.handlers.reports) == \
        sorted([twice.number, twice.number, early.number])


async def test_a_handset_reply_is_delivered_to_the_sp_number_in_parts_when_long(
        sp: Sp) -> None:
    link, _ = await sp.connect()
    await sp.submit(link, "8613000000077")
    await sp.submit(link, "8613000000078")
    await eventually(lambda: _async(len(sp.handlers.delivers) == 3), what="three delivers")
    short = [d for d in sp.handlers.delivers if not d.tp_udhi]
    assert [(d.user_number, d.sp_number, text_of(d.message_content, d.message_coding, 0))
            for d in short] == [("8613000000077", "10655012340001", "R")]
    parts = [d.message_content for d in sp.handlers.delivers if d.tp_udhi]
    assert reassemble(parts, MessageCoding.UCS2) == "好" * 100


async def test_binds_are_checked(sp: Sp) -> None:
    _, wrong = await sp.connect(password="nope")
    assert wrong == Result.ILLEGAL_LOGIN
    _, other = await sp.connect(login_type=LoginType.SMG_TO_SP)
    assert other == Result.BAD_LOGIN_TYPE
    _, stranger = await sp.connect("stranger", "s3cret")
    assert stranger == Result.ILLEGAL_LOGIN
    _, unbound = await asyncio.get_running_loop().create_connection(
        lambda: Link(lambda lk, pdu: None, node=1), "127.0.0.1", sp.port)
    _, future = unbound.send_request(Command.SUBMIT, Submit(user_numbers=["86130"]))
    assert _result(await asyncio.wait_for(future, 5)) == Result.ILLEGAL_LOGIN
    await asyncio.wait_for(unbound.closed, 5)
    assert sp.smg.submitted == 0


async def test_reports_wait_while_the_listener_refuses_the_gateway(
        sp: Sp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sgip_smg, "RETRY_SECONDS", 0.05)
    sp.listener.credentials = Credentials("unicom", "changed")
    link, _ = await sp.connect()
    sequence, _ = await sp.submit(link, "8613000000001")
    await eventually(lambda: _async(sp.listener.refused_binds >= 2), what="refused binds")
    assert sp.handlers.reports == []
    sp.listener.credentials = GATEWAY
    await eventually(lambda: _async(sp.handlers.reports), what="the report")
    assert [r.submit_sequence for r in sp.handlers.reports] == [sequence]


async def test_step_by_step(sp: Sp) -> None:
    sp.smg.manual = True
    link, _ = await sp.connect()
    task = asyncio.create_task(sp.submit(link, "8613000000001", text="【驿站】手动"))
    incoming = await sp.smg.expect()
    assert incoming.text == "【驿站】手动" and incoming.submit.user_numbers == ["8613000000001"]
    sequence = sp.smg.answer(incoming, Result.OK)
    assert (await task)[0] == sequence
    assert await sp.smg.report("yizhan", sequence, "8613000000001", "26") == Result.OK
    assert await sp.smg.uplink("yizhan", "8613000000001", "10655012340001", "TD") == [0]
    assert [(r.state, r.error_code) for r in sp.handlers.reports] == [(ReportState.FAILED, 26)]
    assert text_of(sp.handlers.delivers[0].message_content, 0, 0) == "TD"


def test_script_codes_read_as_report_states() -> None:
    assert report_of("DELIVRD") == (ReportState.DELIVERED, 0)
    assert report_of("29") == (ReportState.FAILED, 29)
    assert report_of("MK:0001") == (ReportState.FAILED, Result.UNKNOWN_USER)
    assert report_of("SOMETHING") == (ReportState.FAILED, Result.SYSTEM_FAILURE)
    assert sgip_smg.submit_result("6") == 6
    assert sgip_smg.submit_result("node_busy") == Result.NODE_BUSY
    assert sgip_smg.submit_result("MK:0001") == Result.SYSTEM_FAILURE


class Registered:
    """The carrier's registrations: only 【驿站】 on the SPNumber 10655012340001."""

    def registered(self, sub_port: str, sign_name: str) -> bool:
        return sub_port == "10655012340001" and sign_name in ("驿站", "")


async def test_an_unregistered_signature_fails_with_the_real_name_error_code(sp: Sp) -> None:
    """As the other simulated carriers fail it with `MB:1077`: the Submit is accepted and
    its Report fails with ErrorCode 77, which China Unicom's shipped table reads as the
    platform's `isv.SIGN_NOT_REGISTERED` with the platform's explanation."""
    sp.smg.records, sp.smg.enforcing = Registered(), frozenset({"yizhan"})
    link, _ = await sp.connect()
    registered, answer = await sp.submit(link, "8613000000001")
    assert _result(answer) == Result.OK
    other_sign, answer = await sp.submit(link, "8613000000001", text="【别家】验证码 1234")
    assert _result(answer) == Result.OK  # accepted, then failed, as a carrier does
    other_port, _ = await sp.submit(link, "8613000000001", sp_number="10655012340002")
    assert await _outcomes(sp, 3) == {registered: (ReportState.DELIVERED, 0),
                                      other_sign: (ReportState.FAILED, sgip_smg.REAL_NAME_ERROR),
                                      other_port: (ReportState.FAILED, sgip_smg.REAL_NAME_ERROR)}
    failed = next(r for r in sp.handlers.reports if r.submit_sequence == other_sign)
    receipt = receipt_of(failed, "cucc", default_codes(), datetime.now(UTC))
    assert receipt is not None and receipt.code == SIGN_NOT_REGISTERED
    info = default_codes().explain(receipt.code)
    assert info is not None and info == explain(SIGN_NOT_REGISTERED)
    assert report_of(REAL_NAME_CODE) == (ReportState.FAILED, sgip_smg.REAL_NAME_ERROR)
