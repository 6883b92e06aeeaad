"""The listener the SGIP gateway connects back to, over loopback: the gateway's Bind is
checked (login type 2, name and password), Reports and Delivers reach the handlers and are
answered with their Result only once the handler has returned, a failing handler answers
NODE_BUSY, and broken or out-of-order requests are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from yizhan.dispatch.channels import sgip_listener
from yizhan.dispatch.channels.sgip_link import Link, LinkClosed, bind
from yizhan.dispatch.channels.sgip_listener import Credentials, SgipListener
from yizhan.dispatch.channels.sgip_pdu import (
    HEADER_SIZE,
    Command,
    Deliver,
    LoginType,
    Pdu,
    Report,
    ReportState,
    Resp,
    Result,
    Sequence,
    encode,
)

GATEWAY = Credentials("unicom", "back-s3cret")
SUBMITTED = Sequence(3_057_112_345, 1_207_185_300, 7)


class Handlers:
    """The listener's owner in these tests: keeps what arrives and answers it at once (or
    holds it unanswered, or answers NODE_BUSY as a channel whose sink failed)."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.delivers: list[Deliver] = []
        self.held: list[tuple[Link, Pdu]] = []
        self.hold = False
        self.fail = False

    def __call__(self, link: Link, pdu: Pdu) -> None:
        if self.hold:
            self.held.append((link, pdu))
            return
        if self.fail:
            link.respond(pdu, Result.NODE_BUSY)
            return
        if isinstance(pdu.body, Report):
            self.reports.append(pdu.body)
        elif isinstance(pdu.body, Deliver):
            self.delivers.append(pdu.body)
        link.respond(pdu)


@pytest.fixture
async def served() -> AsyncIterator[tuple[SgipListener, Handlers, int]]:
    handlers = Handlers()
    listener = SgipListener(GATEWAY, node=1, on_inbound=handlers)
    port = await listener.start()
    yield listener, handlers, port
    await listener.stop()


async def _gateway(port: int) -> Link:
    loop = asyncio.get_running_loop()
    _, link = await loop.create_connection(
        lambda: Link(lambda lk, pdu: None, node=2, name="gateway"), "127.0.0.1", port)
    return link


async def _ask(link: Link, command: Command, body: object = None) -> Pdu:
    _, future = link.send_request(command, body)  # type: ignore[arg-type]
    return await asyncio.wait_for(future, 5)


def _result(pdu: Pdu) -> int:
    assert isinstance(pdu.body, Resp)
    return pdu.body.result


async def test_the_gateway_binds_and_its_report_and_deliver_are_taken(
        served: tuple[SgipListener, Handlers, int]) -> None:
    listener, handlers, port = served
    link = await _gateway(port)
    assert await bind(link, LoginType.SMG_TO_SP, "unicom", "back-s3cret") == Result.OK
    assert listener.connections == 1
    report = Report(SUBMITTED, "8613000000000", ReportState.FAILED, 25)
    answer = await _ask(link, Command.REPORT, report)
    assert answer.command is Command.REPORT_RESP and _result(answer) == Result.OK
    deliver = Deliver("8613000000000", "10655012340001", b"R", 0)
    assert _result(await _ask(link, Command.DELIVER, deliver)) == Result.OK
    assert handlers.reports == [report] and handlers.delivers == [deliver]
    unbound = await _ask(link, Command.UNBIND)
    assert unbound.command is Command.UNBIND_RESP
    await asyncio.wait_for(link.closed, 5)


@pytest.mark.parametrize(("login_type", "name", "password", "result"), [
    (LoginType.SMG_TO_SP, "unicom", "wrong", Result.ILLEGAL_LOGIN),
    (LoginType.SMG_TO_SP, "other", "back-s3cret", Result.ILLEGAL_LOGIN),
    (LoginType.SP_TO_SMG, "unicom", "back-s3cret", Result.BAD_LOGIN_TYPE),
])
async def test_a_wrong_bind_is_refused_and_the_connection_closed(
        served: tuple[SgipListener, Handlers, int], login_type: int, name: str,
        password: str, result: int) -> None:
    listener, _, port = served
    link = await _gateway(port)
    assert await bind(link, login_type, name, password) == result
    await asyncio.wait_for(link.closed, 5)
    assert listener.refused_binds == 1 and listener.connections == 0


async def test_a_report_before_bind_is_refused_and_not_taken(
        served: tuple[SgipListener, Handlers, int]) -> None:
    _, handlers, port = served
    link = await _gateway(port)
    answer = await _ask(link, Command.REPORT, Report(SUBMITTED, "8613000000000"))
    assert _result(answer) == Result.ILLEGAL_LOGIN
    await asyncio.wait_for(link.closed, 5)
    assert handlers.reports == []


async def test_a_second_bind_on_one_connection_is_refused(
        served: tuple[SgipListener, Handlers, int]) -> None:
    _, _, port = served
    link = await _gateway(port)
    assert await bind(link, LoginType.SMG_TO_SP, "unicom", "back-s3cret") == Result.OK
    assert await bind(link, LoginType.SMG_TO_SP, "unicom", "back-s3cret") \
        == Result.REPEATED_LOGIN
    link.close()


async def test_nothing_is_answered_until_the_owner_answers(
        served: tuple[SgipListener, Handlers, int]) -> None:
    _, handlers, port = served
    link = await _gateway(port)
    await bind(link, LoginType.SMG_TO_SP, "unicom", "back-s3cret")
    handlers.hold = True
    _, future = link.send_request(Command.REPORT, Report(SUBMITTED, "8613000000000"))
    done, _ = await asyncio.wait([future], timeout=0.2)
    assert not done and len(handlers.held) == 1
    held_link, held = handlers.held[0]
    held_link.respond(held, Result.NODE_BUSY)
    assert _result(await asyncio.wait_for(future, 5)) == Result.NODE_BUSY
    link.close()


async def test_a_malformed_request_is_answered_bad_parameter(
        served: tuple[SgipListener, Handlers, int]) -> None:
    _, handlers, port = served
    link = await _gateway(port)
    await bind(link, LoginType.SMG_TO_SP, "unicom", "back-s3cret")
    good = encode(Pdu(Command.REPORT, Sequence(2, 3, 4), Report(SUBMITTED, "86130")))
    broken = bytearray(good)
    broken[HEADER_SIZE + 12 + 1 + 21] = 9  # State 9
    answers: asyncio.Queue[bytes] = asyncio.Queue()
    assert link.transport is not None
    original = link.data_received
    link.data_received = answers.put_nowait  # type: ignore[method-assign]
    link.transport.write(bytes(broken))
    raw = await asyncio.wait_for(answers.get(), 5)
    link.data_received = original  # type: ignore[method-assign]
    assert raw[4:8] == Command.REPORT_RESP.to_bytes(4, "big")
    assert raw[8:20] == good[8:20] and raw[20] == Result.BAD_PARAMETER
    assert handlers.reports == []
    link.close()


async def test_a_request_on_a_closed_link_fails_at_once(
        served: tuple[SgipListener, Handlers, int]) -> None:
    _, _, port = served
    link = await _gateway(port)
    link.close()
    await asyncio.wait_for(link.closed, 5)
    _, future = link.send_request(Command.UNBIND)
    with pytest.raises(LinkClosed):
        await future


async def test_connections_are_bounded_and_a_silent_one_is_closed(
        served: tuple[SgipListener, Handlers, int], monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, port = served
    monkeypatch.setattr(sgip_listener, "MAX_CONNECTIONS", 1)
    first = await _gateway(port)
    assert await bind(first, LoginType.SMG_TO_SP, "unicom", "back-s3cret") == Result.OK
    second = await _gateway(port)
    assert await bind(second, LoginType.SMG_TO_SP, "unicom", "back-s3cret") \
        == Result.TOO_MANY_CONNECTIONS
    await asyncio.wait_for(second.closed, 5)
    first.close()
    monkeypatch.setattr(sgip_listener, "BIND_SECONDS", 0.05)
    silent = await _gateway(port)  # connects and never binds
    await asyncio.wait_for(silent.closed, 5)


async def test_a_broken_response_leaves_its_request_to_time_out(
        served: tuple[SgipListener, Handlers, int]) -> None:
    _, handlers, port = served
    link = await _gateway(port)
    link.response_timeout = 0.5
    handlers.hold = True
    await bind(link, LoginType.SMG_TO_SP, "unicom", "back-s3cret")
    sequence, future = link.send_request(Command.REPORT, Report(SUBMITTED, "8613000000000"))
    while not handlers.held:
        await asyncio.sleep(0.01)
    held_link, held = handlers.held[0]
    assert held.sequence == sequence
    broken = encode(Pdu(Command.REPORT_RESP, sequence, Resp(Result.OK)))[:-1]
    assert held_link.transport is not None
    held_link.transport.write(len(broken).to_bytes(4, "big") + broken[4:])
    done, _ = await asyncio.wait([future], timeout=3)  # the sweep fails it, not left hanging
    assert done and isinstance(future.exception(), TimeoutError)
    link.close()
