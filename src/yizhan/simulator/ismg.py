"""The carrier simulator as a real CMPP 2.0 / 3.0 gateway (the ISMG side) on loopback.

It speaks the CMPP channel's codec (`cmpp_pdu`, `cmpp_text`, `cmpp_link`) and runs the same
per-number `Script` as the SMPP simulator (`smsc.py`, docs/simulator.md): each CMPP_SUBMIT
is answered at once with a Msg_Id (or, as the script says, refused with a Result, throttled
with Result 8, never answered, or its link dropped), and its status report follows in a
CMPP_DELIVER after the script's delay: DELIVRD, or the script's code (handset off ->
EXPIRED, empty number -> MK:0001, ...), duplicates, a report ahead of its CMPP_SUBMIT_RESP,
a handset's reply after the report, content keywords, and the real-name check on sources
named in `enforcing` (an unregistered signature's report fails with `MB:1077`).

CMPP_CONNECT is checked as a gateway checks it: `accounts` maps each SP code (Source_Addr)
to its shared secret; an unknown code is refused with Status 2, a wrong authenticator with
3, and the answer carries AuthenticatorISMG. The link takes the version the CONNECT asks
for (2.x or 3.x). Reports wait in one timer heap and go to a link of the SP they belong to;
while none is connected they are held. A deliver not answered with Result 0 is offered
again after `RETRY_SECONDS`.

Step by step from tests (`manual=True`): nothing is answered by itself; `expect` takes the
next CMPP_SUBMIT, `answer` answers it (any Result), `report` and `reply` send a CMPP_DELIVER
and return the SP's CMPP_DELIVER_RESP, `drop` cuts every link.

Like `smsc.py` it stands for the world outside: its delays and dates run on the real clock.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from yizhan.dispatch.channels.cmpp_link import CmppLink
from yizhan.dispatch.channels.cmpp_pdu import (
    Command,
    Connect,
    ConnectResp,
    ConnectStatus,
    Deliver,
    MsgIdResp,
    Pdu,
    PduError,
    Result,
    Submit,
    Version,
    decode,
    encode_body,
    layout_of,
    peek_submit,
)
from yizhan.dispatch.channels.cmpp_text import (
    MsgFmt,
    MsgId,
    Report,
    check_source,
    contents,
    decode_text,
    encode_report,
    format_for,
    ismg_authenticator,
    strip_udh,
)
from yizhan.dispatch.channels.session import LinkClosed
from yizhan.dispatch.channels.simulator import REAL_NAME_CODE, Script, sign_name_of
from yizhan.domain.ports import CarrierRecords
from yizhan.domain.timezone import CHINA
from yizhan.simulator import submits
from yizhan.simulator.deliveries import RETRY_SECONDS, Awaited, Deliveries, SecondLimit

log = logging.getLogger("yizhan.ismg")

_SUBMIT_RESP = {Version.V20: struct.Struct(">QB"), Version.V30: struct.Struct(">QI")}
"""A CMPP_SUBMIT_RESP body: Msg_Id and Result (1 octet in 2.0, 4 in 3.0)."""
GATEWAY = 0x1F2E3
"""The simulated gateway's code inside its Msg_Ids (22 bits)."""

Incoming = submits.Incoming[CmppLink, Pdu, Submit]
"""A CMPP_SUBMIT the manual simulator received and has not answered yet."""


@dataclass(order=True, slots=True)
class _Due(Awaited[Deliver]):
    """A CMPP_DELIVER to send to SP `to` when due, and the `Waiter` of its
    CMPP_DELIVER_RESP: only its Result counts (after the Msg_Id)."""

    STATUS = slice(20, None)
    report: Report | None = field(default=None, compare=False)
    """A status report's fields: its content's layout is the version of the link it goes
    on, so it is encoded when sent."""


def stamp(at: float) -> str:
    """A report date: YYMMDDHHMM, China time (as CMPP gateways write it)."""
    return _minute_stamp(int(at // 60))


@lru_cache(maxsize=16)
def _minute_stamp(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).astimezone(CHINA).strftime("%y%m%d%H%M")


class IsmgServer:
    def __init__(self, script: Script | None = None, *, manual: bool = False,
                 accounts: Mapping[str, str] | None = None, max_per_second: float = 0.0,
                 records: CarrierRecords | None = None,
                 enforcing: Collection[str] = ()) -> None:
        self.script = script or Script()
        self.manual = manual
        self.accounts = dict(accounts or {})
        """SP code -> shared secret of every SP allowed to connect (empty: any, with the
        secret "")."""
        self.max_per_second = max_per_second
        self.records = records
        self.enforcing = frozenset(enforcing) if records is not None else frozenset()
        """SP codes whose carrier requires real-name registration."""
        self.links: list[CmppLink] = []
        self.inbox: asyncio.Queue[Incoming] = asyncio.Queue()
        self.submitted = 0
        self.reports_acked = 0
        self.terminates = 0
        self.connected = asyncio.Event()
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._deliveries: Deliveries[_Due] = Deliveries(self._send)
        self.holding = self._deliveries.holding
        """Set while a deliver waits for its SP to connect."""
        self._server: asyncio.Server | None = None
        self._limit = SecondLimit()
        self._sources: dict[int, tuple[str, str, float]] = {}
        self._id_second = 0
        self._id_base = 0
        """Manual mode: Msg_Id -> (handset, Src_Id, submit time) of each answered submit."""

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        raw = frozenset() if self.manual else frozenset({Command.SUBMIT})
        self._server = await loop.create_server(
            lambda: CmppLink(self._on_request, name="ismg", keepalive=0, raw_requests=raw),
            host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._deliveries.cancel()
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # ---- step by step (manual=True) -----------------------------------------------------

    async def expect(self, timeout: float = 5.0) -> Incoming:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    def answer(self, incoming: Incoming, result: int = 0, msg_id: int | None = None) -> int:
        """Answer a CMPP_SUBMIT; returns the Msg_Id given (0 for a refusal)."""
        given = (msg_id if msg_id is not None else self._next_id()) if result == 0 else 0
        incoming.link.respond(incoming.pdu, MsgIdResp(given, result))
        if given:
            body = incoming.submit
            self._sources[given] = (body.dest_terminal_ids[0], body.src_id, time.time())
        return given

    async def report(self, msg_id: int, stat: str = "DELIVRD",
                     link: CmppLink | None = None) -> Pdu:
        """Send the status report of an answered submit; returns the SP's answer."""
        handset, src_id, at = self._sources.get(msg_id, ("", "", time.time()))
        target = link or self._receiver("")
        if target is None:
            raise LinkClosed("no SP is connected")
        deliver, report = self._report(msg_id, stat, handset, src_id, at, at)
        deliver.msg_content = encode_report(report, target.version)
        return await self._deliver(deliver, target)

    async def reply(self, phone: str, dest: str, text: str,
                    link: CmppLink | None = None) -> list[Pdu]:
        """A handset's reply to `dest` (service code + extension), in parts when long (sent
        together: the SP answers them once the whole reply is stored); returns the SP's
        answers."""
        return list(await asyncio.gather(*(
            self._deliver(body, link)
            for body in reply_delivers(phone, dest, text, next(self._seq) & 0xFF))))

    def drop(self) -> None:
        for link in list(self.links):
            link.abort()

    async def _deliver(self, body: Deliver, link: CmppLink | None) -> Pdu:
        target = link or self._receiver("")
        if target is None:
            raise LinkClosed("no SP is connected")
        return await target.request(Command.DELIVER, body)

    # ---- requests -----------------------------------------------------------------------

    def _on_request(self, link: CmppLink, pdu: Pdu) -> None:
        command = pdu.command
        if command is Command.CONNECT:
            self._connect(link, pdu)
        elif command is Command.TERMINATE:
            self.terminates += 1
            link.respond(pdu)
            link.close()
        elif command is Command.SUBMIT:
            if link.bound_as is None:
                link.respond(pdu, MsgIdResp(0, Result.BAD_STRUCTURE))
                return
            if self.manual:
                assert isinstance(pdu.body, Submit)
                self.inbox.put_nowait(submits.Incoming(link, pdu, pdu.body, _text))
                return
            assert isinstance(pdu.body, bytes)  # scripted: submits arrive undecoded
            try:
                self._submit(link, pdu.sequence, pdu.body)
            except PduError as exc:
                log.warning("ismg: %s", exc)
                link.respond(pdu, MsgIdResp(0, Result.BAD_STRUCTURE))
        elif command is Command.DELIVER:
            link.respond(pdu, MsgIdResp(0, Result.BAD_COMMAND))

    def _connect(self, link: CmppLink, pdu: Pdu) -> None:
        body = pdu.body
        assert isinstance(body, Connect)
        link.version = layout_of(body.version)
        status = ConnectStatus.OK
        if self.accounts and body.source_addr not in self.accounts:
            status = ConnectStatus.BAD_SOURCE_ADDR
        elif not check_source(body.authenticator, body.source_addr,
                              self.accounts.get(body.source_addr, ""), body.timestamp):
            status = ConnectStatus.AUTH_FAILED
        secret = self.accounts.get(body.source_addr, "")
        link.respond(pdu, ConnectResp(status, ismg_authenticator(
            status, body.authenticator, secret, link.version), link.version))
        if status != ConnectStatus.OK:
            log.info("ismg: CONNECT as %r refused: %s", body.source_addr, status.name)
            link.close()
            return
        link.bound_as = Command.CONNECT
        link.system_id = body.source_addr
        link.closed.add_done_callback(lambda _: self._forget(link))
        self.links.append(link)
        self.connected.set()
        self._deliveries.release()

    def _forget(self, link: CmppLink) -> None:
        if link in self.links:
            self.links.remove(link)

    def _submit(self, link: CmppLink, sequence: int, raw: bytes) -> None:
        """Answer a CMPP_SUBMIT as the script says. It comes undecoded: its Src_Id and
        destination are all most submits need; keywords, replies and the real-name check
        decode the whole message."""
        if self.max_per_second and self._limit.over(self.max_per_second):
            link.write(Command.SUBMIT_RESP, sequence, 0, MsgIdResp(0, Result.FLOW_CONTROL))
            return
        script = self.script
        body: Submit | None = None
        peeked = peek_submit(raw, link.version)
        if peeked is None or script.keywords or link.system_id in self.enforcing:
            decoded = decode(raw, link.version).body
            assert isinstance(decoded, Submit)
            body = decoded
            peeked = body.src_id, body.dest_terminal_ids[0]
        src_id, dest = peeked
        outcome = script.outcome(submits.e164_china(dest)) if script.numbers else script.default
        if outcome.submit != "accept" and submits.refused(
                outcome.submit, link,
                lambda result: link.write(Command.SUBMIT_RESP, sequence, 0, MsgIdResp(0, result)),
                throttled=Result.FLOW_CONTROL, rejected=_result):
            return
        msg_id = self._next_id()
        code = (self._intercepted(body) if body is not None else "") or outcome.code
        if body is not None and link.system_id in self.enforcing:
            assert self.records is not None
            if not self.records.registered(src_id, sign_name_of(_text(body))):
                code = REAL_NAME_CODE
        now = time.time()
        report = self._report(msg_id, code, dest, src_id, now, now + outcome.delay)
        if outcome.receipt_first:
            self._send(self._due(0.0, link.system_id, *report))
        link.write(Command.SUBMIT_RESP, sequence, 0, _SUBMIT_RESP[link.version].pack(
            msg_id, 0))
        self.submitted += 1
        count = 0 if outcome.receipt_first else outcome.receipts
        due = asyncio.get_running_loop().time() + outcome.delay
        for _ in range(count):
            item = self._due(due, link.system_id, *report)
            if outcome.delay:
                self._deliveries.schedule(item)
            else:
                self._send(item)
        if outcome.uplink:
            for part in reply_delivers(dest, src_id, outcome.uplink, next(self._seq) & 0xFF):
                self._deliveries.schedule(self._due(due, link.system_id, part))

    def _report(self, msg_id: int, stat: str, handset: str, src_id: str, submitted: float,
                done: float) -> tuple[Deliver, Report]:
        """The CMPP_DELIVER of a status report, and the report its content carries."""
        return (Deliver(msg_id=self._next_id(), dest_id=src_id, src_terminal_id=handset,
                        registered_delivery=1),
                Report(msg_id, stat, stamp(submitted), stamp(done), handset))

    def _due(self, due: float, sp: str, body: Deliver, report: Report | None = None) -> _Due:
        return _Due(due, next(self._seq), sp, body, 0, self, report)  # 0 offers so far

    def _intercepted(self, body: Submit) -> str:
        if not self.script.keywords:
            return ""
        content = _text(body)
        return next((code for word, code in self.script.keywords.items() if word in content), "")

    def _next_id(self) -> int:
        """A Msg_Id as gateways give them: the time to the second, our code, a sequence (the
        time part is worked out once a second)."""
        second = int(time.time())
        if second != self._id_second:
            self._id_second = second
            self._id_base = MsgId.at(datetime.fromtimestamp(second, UTC), GATEWAY, 0).pack()
        return self._id_base | (next(self._ids) & 0xFFFF)

    # ---- delivers -----------------------------------------------------------------------

    def _send(self, item: _Due) -> None:
        link = self._receiver(item.to)
        if link is None:
            self._deliveries.hold(item)
            return
        body, report = item.body, item.report
        if report is None:
            encoded = encode_body(body, link.version)
        else:  # the hot path: a status report, its fixed fields joined at once
            encoded = report_body(body.msg_id, body.dest_id, body.src_terminal_id,
                                  encode_report(report, link.version), link.version)
        link.request_raw_to(item, Command.DELIVER, encoded)

    def acknowledged(self, item: _Due, result: int | None) -> None:
        """The SP's answer to a CMPP_DELIVER (None: none came, or the link dropped)."""
        if result == 0:
            self.reports_acked += 1
            return
        self._deliveries.refused(item, RETRY_SECONDS)

    def _receiver(self, sp: str) -> CmppLink | None:
        for link in self.links:
            if link.is_open and (not sp or link.system_id == sp):
                return link
        return None


def report_body(msg_id: int, dest_id: str, handset: str, content: bytes,
                version: Version) -> bytes:
    """The body of a CMPP_DELIVER carrying a status report: the same bytes as encoding
    `Deliver(msg_id, dest_id, handset, content, registered_delivery=1)`
    (tests/simulator/test_ismg.py), joined from fixed parts."""
    wide = version is Version.V30
    return b"".join((
        _U64.pack(msg_id), dest_id.encode("latin-1").ljust(21, b"\0"), bytes(13),
        handset.encode("latin-1").ljust(32 if wide else 21, b"\0"),
        b"\0\x01" if wide else b"\x01", bytes((len(content),)), content,
        bytes(20 if wide else 8)))


_U64 = struct.Struct(">Q")


def reply_delivers(phone: str, dest: str, text: str, reference: int) -> list[Deliver]:
    """A handset's reply as the CMPP_DELIVERs a gateway sends: one, or one per part with
    TP_udhi = 1 and a concatenation header."""
    fmt = format_for(text)
    parts = contents(text, fmt, reference)
    udhi = 1 if len(parts) > 1 else 0
    return [Deliver(msg_id=0, dest_id=dest, src_terminal_id=phone, msg_content=part,
                    msg_fmt=fmt, tp_udhi=udhi) for part in parts]


def _text(body: Submit) -> str:
    content = strip_udh(body.msg_content) if body.tp_udhi else body.msg_content
    if body.msg_fmt not in (MsgFmt.ASCII, MsgFmt.UCS2, MsgFmt.GBK):
        return ""
    return decode_text(content, body.msg_fmt)


def _result(detail: str) -> int:
    """`reject:13` or `reject:BAD_DEST_TERMINAL_ID` -> that Result; anything else (a carrier
    code such as `reject:MK:0001`, an SMPP status) -> 13, the destination refused."""
    if detail.isdigit():
        return int(detail)
    name = detail.upper().removeprefix("CMPP_")
    return Result[name] if name in Result.__members__ else Result.BAD_DEST_TERMINAL_ID
