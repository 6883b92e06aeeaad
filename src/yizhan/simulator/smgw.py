"""The carrier simulator as an SMGP 3.0 server (China Telecom's SMGW side) on loopback.

It speaks the codec of the SMGP channel (`smgp_pdu`, `smgp_text`) and is scripted by the
same data as the SMPP simulator (`Script`, docs/simulator.md), number by number:

- **Scripted** (the default): a Login is checked against `accounts` (ClientID -> shared
  secret: a wrong secret or an unknown account gets Status 21, a ClientVersion above 3.0
  Status 22); every Submit is answered at once with a 10-octet BCD MsgID, and its status
  report (a Deliver with IsReport=1) follows after the script's delay: DELIVRD or the
  script's code as `stat`. `reject:<status>` answers the Submit with that Status (a number
  or a `Status` name), `throttle` with SYSTEM_BUSY (1, what SMGWs answer over a rate),
  `hang` never answers, `drop` cuts the link; `receipts: 2` sends a duplicate,
  `receipt_first` the report before the Submit_Resp, `uplink` a handset's reply (a Deliver
  with IsReport=0, in parts when long) after it. `Script.keywords` intercepts content;
  `max_per_second` answers SYSTEM_BUSY past that rate; `enforcing` (ClientIDs) with
  `records` fails an unregistered signature on its sub-port with `REAL_NAME_CODE`.
- **Step by step from tests** (`manual=True`): nothing is answered by itself; the test takes
  the next request with `expect`, answers it with `answer` (any Status), and pushes
  `receipt`s and `uplink`s whose Deliver_Resp it can await, or `drop`s the link.

Reports and replies go to a link of the same ClientID logged in to receive (LoginMode 1 or
2); while none is, they are held, as an SMGW stores them, and a Deliver that is not answered
Status 0 (or not within `ANSWER_SECONDS`, or whose link drops first) is offered again after
`RETRY_SECONDS`, up to `deliveries.OFFERS` times (the heap and the per-second limit are
the other simulators', `simulator/deliveries.py`). Active_Test is answered; Exit is
answered and the link closed. One SP connection, and the Delivers written on it, are
`smgw_link.py`'s (`SmgwLink`, `report_deliver`, `reply_delivers`, imported from here too).

It stands for the world outside the platform, so its delays and dates run on the real clock
(the event loop's and `time.time`), never on the platform's injected `Clock`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path

import orjson

from yizhan.dispatch.channels import smgp_text
from yizhan.dispatch.channels.simulator import REAL_NAME_CODE, Outcome, Script, sign_name_of
from yizhan.dispatch.channels.smgp_pdu import (
    VERSION,
    Command,
    Deliver,
    Login,
    LoginMode,
    LoginResp,
    MsgIdResp,
    Pdu,
    Status,
    Submit,
)
from yizhan.dispatch.channels.smgp_text import MsgId
from yizhan.domain.ports import CarrierRecords
from yizhan.simulator import submits
from yizhan.simulator.deliveries import Deliveries, Offer, SecondLimit
from yizhan.simulator.smgw_link import SmgwLink, reply_delivers, report_deliver, text_of

log = logging.getLogger("yizhan.smgw")

RETRY_SECONDS = 1.0
ANSWER_SECONDS = 10.0
"""A Deliver not answered within this is offered again (as one answered with an error)."""
GATEWAY_CODE = 591234
"""The simulated SMGW's code: the first 6 digits of every MsgID it gives."""
RECEIVING = frozenset({LoginMode.RECEIVE, LoginMode.TRANSMIT})
SENDING = frozenset({LoginMode.SEND, LoginMode.TRANSMIT})


Incoming = submits.Incoming[SmgwLink, Pdu, Submit]
"""A Submit the manual simulator received and has not answered yet."""


class SmgwServer:
    def __init__(self, script: Script | None = None, *,
                 accounts: Mapping[str, str] | None = None, manual: bool = False,
                 max_per_second: float = 0.0, submit_log: Path | None = None,
                 records: CarrierRecords | None = None, enforcing: Collection[str] = ()
                 ) -> None:
        self.script = script or Script()
        self.accounts = dict(accounts or {})
        """ClientID -> shared secret of every SP allowed to log in (empty: any ClientID,
        whose authenticator is then not checked)."""
        self.manual = manual
        self.max_per_second = max_per_second
        self.submit_log = submit_log
        self.records = records
        self.enforcing = frozenset(enforcing) if records is not None else frozenset()
        self.links: list[SmgwLink] = []
        self.inbox: asyncio.Queue[Incoming] = asyncio.Queue()
        self.logged_in = asyncio.Event()
        self.submitted = 0
        self.receipts_acked = 0
        self.exits = 0
        self.active_tests = 0
        self.active_tested = asyncio.Event()
        self._ids = itertools.count(1)
        self._deliveries: Deliveries[Offer[Deliver]] = Deliveries(self._send)
        self._server: asyncio.Server | None = None
        self._rate = SecondLimit()
        self._submits: dict[bytes, Submit] = {}
        """Manual mode: the Submit each MsgID was given to (what its report says)."""

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port (0 picks a free one)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SmgwLink(self), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._deliveries.cancel()
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # ---- step by step (manual=True) -----------------------------------------------------

    async def expect(self, command: Command = Command.SUBMIT, timeout: float = 5.0) -> Incoming:
        """The next Submit received; fails if none comes in time."""
        incoming = await asyncio.wait_for(self.inbox.get(), timeout)
        if incoming.pdu.command is not command:
            raise AssertionError(f"expected {command.title}, got {incoming.pdu.command.title}")
        return incoming

    def answer(self, incoming: Incoming, status: int = Status.OK,
               msg_id: bytes | None = None) -> bytes:
        """Answer a Submit; returns the MsgID given (10 zero octets for an error status)."""
        given = bytes(10) if status else (msg_id or self._next_id())
        incoming.link.send(Pdu(Command.SUBMIT_RESP, incoming.pdu.sequence,
                               MsgIdResp(given, status)))
        if not status:
            self._submits[given] = incoming.submit
            if len(self._submits) > 10_000:  # the oldest answered submit is forgotten
                del self._submits[next(iter(self._submits))]
            self.submitted += 1
        return given

    async def receipt(self, msg_id: bytes, stat: str = "DELIVRD", *, err: str = "000",
                      link: SmgwLink | None = None, timeout: float = 5.0) -> Pdu:
        """Send a status report on `msg_id`; returns the SP's Deliver_Resp."""
        submit = self._submits.get(msg_id, Submit(dest_term_ids=[""]))
        body = report_deliver(msg_id, submit, stat, err, time.time(), time.time())
        return await self._deliver(body, link, timeout)

    async def uplink(self, phone: str, dest: str, text: str, *, link: SmgwLink | None = None,
                     timeout: float = 5.0) -> Pdu:
        """A handset's reply to `dest` (our number + the extension); returns the answer."""
        return await self._deliver(reply_delivers(phone, dest, text, 1)[0], link, timeout)

    async def deliver(self, body: Deliver, link: SmgwLink | None = None,
                      timeout: float = 5.0) -> Pdu:
        return await self._deliver(body, link, timeout)

    def drop(self) -> None:
        """Cut every link without Exit, as a failing network does."""
        for link in list(self.links):
            link.abort()

    async def _deliver(self, body: Deliver, link: SmgwLink | None, timeout: float) -> Pdu:
        target = link or self._receiver("")
        if target is None:
            raise ConnectionError("no SP is logged in to receive")
        answer: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        target.request(Command.DELIVER, body, answer)
        return await asyncio.wait_for(answer, timeout)

    # ---- requests -----------------------------------------------------------------------

    def on_pdu(self, link: SmgwLink, pdu: Pdu) -> None:
        command = pdu.command
        if command.is_response:
            self._answered(link, pdu)
        elif command is Command.LOGIN:
            self._login(link, pdu)
        elif command is Command.ACTIVE_TEST:
            self.active_tests += 1
            self.active_tested.set()
            link.send(Pdu(Command.ACTIVE_TEST_RESP, pdu.sequence))
        elif command is Command.EXIT:
            self.exits += 1
            link.send(Pdu(Command.EXIT_RESP, pdu.sequence))
            if link.transport is not None:
                link.transport.close()
        elif command is Command.SUBMIT:
            self._on_submit(link, pdu)
        else:  # a Deliver from the SP: not how an SP talks to an SMGW
            link.send(Pdu(command.response, pdu.sequence,
                          MsgIdResp(bytes(10), Status.BAD_COMMAND)))

    def _login(self, link: SmgwLink, pdu: Pdu) -> None:
        login = pdu.body
        assert isinstance(login, Login)
        status = self._refusal(login) if link.mode is None else Status.BAD_COMMAND
        secret = self.accounts.get(login.client_id, "")
        auth = smgp_text.server_authenticator(status, login.authenticator, secret)
        link.send(Pdu(Command.LOGIN_RESP, pdu.sequence, LoginResp(status, auth, VERSION)))
        if status:
            log.info("smgw: login as %r refused: %s", login.client_id,
                     smgp_text.status_text(status))
            if link.mode is None and link.transport is not None:
                link.transport.close()
            return
        link.client_id, link.mode = login.client_id, login.login_mode
        self.links.append(link)
        self.logged_in.set()
        if link.mode in RECEIVING:
            self._deliveries.release()

    def _refusal(self, login: Login) -> int:
        if login.version > VERSION:
            return Status.VERSION_TOO_HIGH
        if login.login_mode not in tuple(LoginMode):
            return Status.BAD_STRUCTURE
        if not self.accounts:
            return Status.OK
        secret = self.accounts.get(login.client_id)
        if secret is None or not smgp_text.check_client(
                login.authenticator, login.client_id, secret, login.timestamp):
            return Status.AUTH_FAILED
        return Status.OK

    def _answered(self, link: SmgwLink, pdu: Pdu) -> None:
        waiter = link.waiting.pop(pdu.sequence, None)
        if waiter is None:
            return
        if isinstance(waiter, Offer):
            status = pdu.body.status if isinstance(pdu.body, MsgIdResp) else None
            if status == Status.OK:
                self.receipts_acked += 1
            else:
                self.unanswered(waiter)
        elif not waiter.done():
            waiter.set_result(pdu)

    def _on_submit(self, link: SmgwLink, pdu: Pdu) -> None:
        submit = pdu.body
        assert isinstance(submit, Submit)
        if link.mode not in SENDING:
            link.send(Pdu(Command.SUBMIT_RESP, pdu.sequence,
                          MsgIdResp(bytes(10), Status.BAD_COMMAND)))
            return
        if self.submit_log is not None:
            self._log_submit(submit)
        if self.manual:
            self.inbox.put_nowait(submits.Incoming(link, pdu, submit, text_of))
            return
        self._scripted(link, pdu.sequence, submit)

    def _log_submit(self, submit: Submit) -> None:
        assert self.submit_log is not None
        line = orjson.dumps({"at": time.time(), "source": submit.src_term_id,
                             "destination": submit.dest_term_ids[0],
                             "text": text_of(submit)}) + b"\n"
        fd = os.open(self.submit_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def _scripted(self, link: SmgwLink, sequence: int, submit: Submit) -> None:
        if self.max_per_second and self._rate.over(self.max_per_second):
            link.send(Pdu(Command.SUBMIT_RESP, sequence,
                          MsgIdResp(bytes(10), Status.SYSTEM_BUSY)))
            return
        dest = submit.dest_term_ids[0]
        outcome = self.script.outcome(submits.e164_china(dest))
        if submits.refused(outcome.submit, link, lambda status: link.send(Pdu(
                Command.SUBMIT_RESP, sequence, MsgIdResp(bytes(10), status))),
                throttled=Status.SYSTEM_BUSY, rejected=_status):
            return
        msg_id = self._next_id()
        code = self._code(link, submit, outcome)
        now = time.time()
        report = report_deliver(msg_id, submit, code, "000", now, now + outcome.delay)
        if outcome.receipt_first:
            self._send(self._offer(0.0, link.client_id, report))
        link.send(Pdu(Command.SUBMIT_RESP, sequence, MsgIdResp(msg_id, Status.OK)))
        self.submitted += 1
        due = asyncio.get_running_loop().time() + outcome.delay
        for _ in range(0 if outcome.receipt_first else outcome.receipts):
            self._deliveries.schedule(self._offer(due, link.client_id, report))
        if outcome.uplink:
            for part in reply_delivers(dest, submit.src_term_id, outcome.uplink,
                                       self._deliveries.next_seq() & 0xFF):
                self._deliveries.schedule(self._offer(due, link.client_id, part))

    def _code(self, link: SmgwLink, submit: Submit, outcome: Outcome) -> str:
        """The report's stat: a keyword's interception, the real-name check, the script's."""
        text = text_of(submit) if self.script.keywords or link.client_id in self.enforcing \
            else ""
        code = next((c for word, c in self.script.keywords.items() if word in text), "")
        if link.client_id in self.enforcing:
            assert self.records is not None
            if not self.records.registered(submit.src_term_id, sign_name_of(text)):
                code = REAL_NAME_CODE
        return code or outcome.code

    def _next_id(self) -> bytes:
        return MsgId.at(datetime.now(UTC), GATEWAY_CODE, next(self._ids)).pack()

    # ---- reports and replies ------------------------------------------------------------

    def _offer(self, due: float, client_id: str, body: Deliver) -> Offer[Deliver]:
        return Offer(due, self._deliveries.next_seq(), client_id, body)

    def _send(self, offer: Offer[Deliver]) -> None:
        link = self._receiver(offer.to)
        if link is None:
            self._deliveries.hold(offer)
            return
        sequence = link.request(Command.DELIVER, offer.body, offer)
        asyncio.get_running_loop().call_later(ANSWER_SECONDS, self._overdue, link, sequence)

    def _overdue(self, link: SmgwLink, sequence: int) -> None:
        """A Deliver the SP has not answered in time is offered again."""
        waiter = link.waiting.pop(sequence, None)
        if isinstance(waiter, Offer):
            self.unanswered(waiter)

    def unanswered(self, offer: Offer[Deliver]) -> None:
        """A Deliver answered with an error, not in time, or whose link dropped: offer it
        again later."""
        self._deliveries.refused(offer, RETRY_SECONDS)

    @property
    def holding(self) -> asyncio.Event:
        """Set when a report or reply found no receiving link and waits for the next login."""
        return self._deliveries.holding

    def forget(self, link: SmgwLink) -> None:
        if link in self.links:
            self.links.remove(link)

    def _receiver(self, client_id: str) -> SmgwLink | None:
        for link in self.links:
            if link.mode in RECEIVING and link.is_open and (
                    not client_id or link.client_id == client_id):
                return link
        return None


def _status(detail: str) -> int:
    """`reject:47`, `reject:BAD_DEST_TERM_ID` -> that Status; anything else (a carrier's
    receipt code such as `MK:0001`): ROUTING_ERROR (39)."""
    if detail.isdigit():
        return int(detail)
    try:
        return Status[detail.upper()]
    except KeyError:
        return Status.ROUTING_ERROR
