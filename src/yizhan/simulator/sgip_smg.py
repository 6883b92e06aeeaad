"""The carrier simulator as a China Unicom SGIP 1.2 gateway (SMG) on loopback.

It accepts an SP's connections (Bind with Login Type 1, checked against `accounts`, login
name -> password: Result 1 for a wrong one, Result 4 for another login type), answers every
Submit, and, as a real SMG does, **connects back** to the SP's listener (`connect_back`,
login name -> where and how: Bind with Login Type 2 and the SP's credentials) to send each
Submit's Report and the handsets' replies (Deliver). Reports and replies wait in one timer
heap (`deliveries.py`, as the other simulators'); while the SP's listener cannot be reached
or refuses the Bind they are held and offered again every `RETRY_SECONDS`, up to
`deliveries.OFFERS` times, as a gateway stores them.

Per-number behaviour comes from the SMPP simulator's `Script` (docs/simulator.md), read in
SGIP's words:

- `submit`: `accept`; `reject:<Result>` (a number, `reject:6`, or a name,
  `reject:ILLEGAL_NUMBER`; a carrier code with no Result is answered 32, SYSTEM_FAILURE);
  `throttle` (Result 11, NODE_BUSY: SGIP has no throttling code of its own); `hang` (never
  answered); `drop` (the connection is cut instead).
- `code`: the Report's outcome. `DELIVRD` is State 0; a number (`"29"`) is State 2 with that
  ErrorCode; the SMPP words are mapped (`ERRORS`); any other word is State 2, ErrorCode 32.
- `delay`, `receipts` (0: no Report; 2: a duplicate), `receipt_first` (the Report leaves
  before the Submit_Resp), `uplink` (the handset's reply, in parts when long), `keywords`,
  and `max_per_second` (Result 11 beyond it).
- Real-name registration: with `records`, a Submit from a login named in `enforcing` whose
  signature (the 【name】 at the head of its text) is not registered on its SPNumber (the
  sub-port) is answered Result 0 and its Report fails, State 2 with ErrorCode
  `REAL_NAME_ERROR` (77), as the other simulated carriers fail it with `MB:1077`.

The Submit's Sequence Number is the message's id (SGIP has no other): the Report names it.
Step by step from tests (`manual=True`): nothing is answered by itself; `expect` takes the
next Submit, `answer` answers it with any Result, and `report` and `uplink` send over the
connection back, returning the SP's Result.

It stands for the world outside the platform, so its delays run on the real clock (the
event loop's), never on the platform's injected `Clock`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from yizhan.dispatch.channels import sgip_text
from yizhan.dispatch.channels.sgip_link import Link, LinkClosed, admit, bind
from yizhan.dispatch.channels.sgip_pdu import (
    Bind,
    Body,
    Command,
    Deliver,
    LoginType,
    Pdu,
    PduError,
    Report,
    ReportState,
    Resp,
    Result,
    Sequence,
    Submit,
)
from yizhan.dispatch.channels.simulator import REAL_NAME_CODE, Outcome, Script, sign_name_of
from yizhan.domain.ports import CarrierRecords
from yizhan.simulator import submits
from yizhan.simulator.deliveries import Deliveries, Offer, SecondLimit

log = logging.getLogger("yizhan.smg")

RETRY_SECONDS = 1.0
NODE = 3_010_000_001
"""The simulated gateway's node id (3 + area code + a number, as the spec builds them)."""
REAL_NAME_ERROR = 77
"""The simulator's ErrorCode for an unregistered signature. SGIP 1.2 assigns none (its table
ends at 33, "其它错误码(待定义)": the carrier defines the rest); 77 is this simulator's
convention, mapped to `isv.SIGN_NOT_REGISTERED` by the shipped table (`data/sgip.codes.toml`).
A real China Unicom gateway's code goes in the channel's own code table."""
ERRORS = {"EXPIRED": Result.USER_UNREACHABLE, "MK:0023": Result.USER_UNREACHABLE,
          "MK:0001": Result.UNKNOWN_USER, "UNDELIV": Result.HANDSET_ERROR,
          "REJECTD": Result.NOT_SUPPORTED, REAL_NAME_CODE: REAL_NAME_ERROR}
"""The SMPP simulator's receipt words as a Report's ErrorCode (State 2)."""


@dataclass(frozen=True, slots=True)
class ConnectBack:
    """Where the SP's listener is and what to Bind it with."""

    host: str
    port: int
    login_name: str
    login_password: str


Incoming = submits.Incoming[Link, Pdu, Submit]
"""A Submit the manual simulator received and has not answered yet."""


def report_of(code: str) -> tuple[ReportState, int]:
    """A script's receipt code as a Report's State and ErrorCode."""
    if code == "DELIVRD":
        return ReportState.DELIVERED, 0
    if code.isdigit() and int(code) <= 0xFF:
        return ReportState.FAILED, int(code)
    return ReportState.FAILED, int(ERRORS.get(code, Result.SYSTEM_FAILURE))


def submit_result(detail: str) -> int:
    """`reject:6` or `reject:ILLEGAL_NUMBER` -> that Result; anything else 32."""
    if detail.isdigit() and int(detail) <= 0xFF:
        return int(detail)
    try:
        return int(Result[detail.upper()])
    except KeyError:
        return Result.SYSTEM_FAILURE


class SmgServer:
    def __init__(self, script: Script | None = None, *,
                 accounts: Mapping[str, str] | None = None,
                 connect_back: Mapping[str, ConnectBack] | None = None,
                 manual: bool = False, max_per_second: float = 0.0, node: int = NODE,
                 records: CarrierRecords | None = None, enforcing: Collection[str] = ()
                 ) -> None:
        self.script = script or Script()
        self.accounts = dict(accounts or {})
        """login name -> password of every SP allowed to Bind (empty: anyone)."""
        self.connect_back = dict(connect_back or {})
        """login name -> the SP's listener its Reports and replies go to ("": any login)."""
        self.manual = manual
        self.max_per_second = max_per_second
        self.node = node
        self.records = records
        self.enforcing = frozenset(enforcing) if records is not None else frozenset()
        """Login names whose carrier refuses unregistered signatures (needs `records`)."""
        self.links: list[Link] = []
        self.inbox: asyncio.Queue[Incoming] = asyncio.Queue()
        self.submitted = 0
        """Submits answered Result 0."""
        self.reports_acked = 0
        self.unbinds = 0
        """Unbinds received on the SP's connections (a channel's goodbye)."""
        self.delivers_acked = 0
        self.bound = asyncio.Event()
        self._deliveries: Deliveries[Offer[Report | Deliver]] = Deliveries(self._start_offer)
        """The Reports and Delivers due to each login's listener (`Offer.to`)."""
        self._back: dict[str, Link] = {}
        self._back_lock: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._limit = SecondLimit()

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port (0 picks a free one)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Link(self._on_request, node=self.node, name="smg"), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._deliveries.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for link in [*self.links, *self._back.values()]:
            link.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def drop(self) -> None:
        """Cut every SP connection without Unbind, as a failing network does."""
        for link in self.links:
            link.abort()

    # ---- step by step (manual=True) -----------------------------------------------------

    async def expect(self, timeout: float = 5.0) -> Incoming:
        """The next Submit received; fails if none comes in time."""
        return await asyncio.wait_for(self.inbox.get(), timeout)

    def answer(self, incoming: Incoming, result: int = Result.OK) -> Sequence:
        """Answer a Submit; returns its Sequence Number (the message's id)."""
        incoming.link.respond(incoming.pdu, result)
        return incoming.pdu.sequence

    async def report(self, login: str, of: Sequence, user_number: str, code: str = "DELIVRD",
                     ) -> int:
        """Send a Report over the connection back to `login`'s listener; the SP's Result."""
        state, error = report_of(code)
        return await self._send(login, Command.REPORT, Report(of, user_number, state, error))

    async def uplink(self, login: str, phone: str, sp_number: str, text: str) -> list[int]:
        """A handset's reply to `sp_number`, in parts when long (sent together: an SP answers
        the parts once the whole reply is stored); the SP's Results."""
        parts = uplink_parts(phone, sp_number, text, self._deliveries.next_seq() & 0xFF)
        await self._link_back(login)  # one connection for all the parts
        return list(await asyncio.gather(*(self._send(login, Command.DELIVER, body)
                                           for body in parts)))

    # ---- the SP's connections -----------------------------------------------------------

    def _on_request(self, link: Link, pdu: Pdu) -> None:
        if pdu.command is Command.UNBIND:
            self.unbinds += 1
        was_bound = link.bound
        if not admit(link, pdu, self._check):
            if link.bound and not was_bound:  # this Bind was accepted
                self.links.append(link)
                link.closed.add_done_callback(lambda _: self._forget(link))
                self.bound.set()
            return
        if pdu.command is Command.SUBMIT:
            if self.manual:
                assert isinstance(pdu.body, Submit)
                self.inbox.put_nowait(submits.Incoming(link, pdu, pdu.body, _text_of))
            else:
                self._submit(link, pdu)
        else:
            link.respond(pdu, Result.BAD_COMMAND_ID)

    def _check(self, b: Bind) -> int:
        if b.login_type != LoginType.SP_TO_SMG:
            result: int = Result.BAD_LOGIN_TYPE
        elif self.accounts and self.accounts.get(b.login_name) != b.login_password:
            result = Result.ILLEGAL_LOGIN
        else:
            return Result.OK
        log.info("smg: Bind as %r refused (Result %d)", b.login_name, result)
        return result

    def _forget(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)

    def _submit(self, link: Link, pdu: Pdu) -> None:
        submit = pdu.body
        assert isinstance(submit, Submit)
        if self.max_per_second and self._limit.over(self.max_per_second):
            link.respond(pdu, Result.NODE_BUSY)
            return
        outcome = self.script.outcome(submits.e164(submit.user_numbers[0]))
        if submits.refused(outcome.submit, link, lambda result: link.respond(pdu, result),
                           throttled=Result.NODE_BUSY, rejected=submit_result):
            return
        code = self._code(link, submit) or outcome.code
        if outcome.receipt_first:
            self._reports(link.login_name, pdu.sequence, submit, code, 0.0, 1)
        link.respond(pdu)
        self.submitted += 1
        if submit.report_flag != 2:  # 2: the SP asked for no Report
            count = 0 if outcome.receipt_first else outcome.receipts
            self._reports(link.login_name, pdu.sequence, submit, code, outcome.delay, count)
        self._uplink(link.login_name, submit, outcome)

    def _reports(self, login: str, sequence: Sequence, submit: Submit, code: str, delay: float,
                 count: int) -> None:
        state, error = report_of(code)
        if submit.report_flag == 0 and state is ReportState.DELIVERED:
            return  # 0: a Report on failure only
        due = asyncio.get_running_loop().time() + delay
        for user in submit.user_numbers:
            for _ in range(count):
                self._deliveries.schedule(self._due(due, login,
                                                    Report(sequence, user, state, error)))

    def _uplink(self, login: str, submit: Submit, outcome: Outcome) -> None:
        if not outcome.uplink:
            return
        due = asyncio.get_running_loop().time() + outcome.delay
        for body in uplink_parts(submit.user_numbers[0], submit.sp_number, outcome.uplink,
                                 self._deliveries.next_seq() & 0xFF):
            self._deliveries.schedule(self._due(due, login, body))

    def _code(self, link: Link, submit: Submit) -> str:
        """The Report's outcome decided by the content: a keyword's interception, then the
        real-name check; "" leaves it to the script."""
        enforcing = link.login_name in self.enforcing
        if not self.script.keywords and not enforcing:
            return ""
        try:
            content = _text_of(submit)
        except PduError:
            content = ""
        code = next((c for word, c in self.script.keywords.items() if word in content), "")
        if enforcing:
            assert self.records is not None
            if not self.records.registered(submit.sp_number, sign_name_of(content)):
                code = REAL_NAME_CODE
        return code

    # ---- the connection back ------------------------------------------------------------

    def _due(self, due: float, login: str, body: Report | Deliver) -> Offer[Report | Deliver]:
        return Offer(due, self._deliveries.next_seq(), login, body)

    def _start_offer(self, item: Offer[Report | Deliver]) -> None:
        """A Report or Deliver is due: send it over the connection back (in a task: it may
        have to connect and Bind first)."""
        task = asyncio.create_task(self._offer(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _offer(self, item: Offer[Report | Deliver]) -> None:
        command = Command.REPORT if isinstance(item.body, Report) else Command.DELIVER
        try:
            result: int | None = await self._send(item.to, command, item.body)
        except (OSError, TimeoutError, PduError) as exc:
            log.info("smg: %s to %r not delivered: %s", command.title, item.to, exc)
            result = None
        if result == Result.OK:
            if command is Command.REPORT:
                self.reports_acked += 1
            else:
                self.delivers_acked += 1
            return
        self._deliveries.refused(item, RETRY_SECONDS)

    async def _send(self, login: str, command: Command, body: Body) -> int:
        link = await self._link_back(login)
        _, future = link.send_request(command, body)
        response = await future
        if not isinstance(response.body, Resp):
            raise PduError(f"{response.command.title} answered {command.title}")
        return response.body.result

    async def _link_back(self, login: str) -> Link:
        """The bound connection to `login`'s listener, opened (and Bound) when none is."""
        lock = self._back_lock.setdefault(login, asyncio.Lock())
        async with lock:
            link = self._back.get(login)
            if link is not None and link.is_open:
                return link
            target = self.connect_back.get(login) or self.connect_back.get("")
            if target is None:
                raise LinkClosed(f"no connection back is configured for {login!r}")
            loop = asyncio.get_running_loop()
            _, link = await loop.create_connection(
                lambda: Link(_no_requests, node=self.node, name="smg-back"),
                target.host, target.port)
            result = await bind(link, LoginType.SMG_TO_SP, target.login_name,
                                target.login_password)
            if result != Result.OK:
                link.close()
                raise LinkClosed(f"the SP's listener refused the Bind: "
                                 f"{sgip_text.result_text(result)}")
            self._back[login] = link
            return link


def _no_requests(link: Link, pdu: Pdu) -> None:
    """The SP sends nothing but responses over the gateway's connection back."""
    link.respond(pdu, Result.BAD_COMMAND_ID)


def _text_of(submit: Submit) -> str:
    return sgip_text.text_of(submit.message_content, submit.message_coding, submit.tp_udhi)


def uplink_parts(phone: str, sp_number: str, text: str, reference: int) -> list[Deliver]:
    """A handset's reply as the Delivers a gateway sends: one when it fits, else one per
    part, each led by the concatenation header (TP_udhi=1)."""
    coding = sgip_text.format_for(text)
    contents = sgip_text.contents(text, coding, reference)
    udhi = int(len(contents) > 1)
    return [Deliver(user_number=phone, sp_number=sp_number, message_content=content,
                    message_coding=coding, tp_udhi=udhi) for content in contents]

