"""One SP's link to the simulated SMGW (`smgw.py`) and the Delivers the SMGW writes on it.

`SmgwLink` frames the bytes of one SP connection, hands each request to its `Server` (the
SMGW's session and scripted behaviour live there), and keeps the Delivers awaiting the SP's
Deliver_Resp: an `Offer` (a report or reply) from the SMGW's timer heap, or a test's future
(manual mode). When the link drops, its unanswered Offers go back to the server to be
offered again.
`report_deliver` and `reply_delivers` write a status report and a handset's reply as an
SMGW sends them; `text_of` reads a Submit's text.

It stands for the world outside the platform, so its dates run on the real clock
(`time.time`), never on the platform's injected `Clock`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import UTC, datetime
from typing import Protocol, cast

from yizhan.dispatch.channels import smgp_pdu, smgp_text
from yizhan.dispatch.channels.smgp_pdu import Command, Deliver, Framer, Pdu, PduError, Submit, Tlvs
from yizhan.dispatch.channels.smgp_text import MsgFmt, Report
from yizhan.simulator.deliveries import Offer

log = logging.getLogger("yizhan.smgw")


class Server(Protocol):
    """What a link hands on: every PDU it reads, its end, and the Offers it leaves
    unanswered."""

    def on_pdu(self, link: SmgwLink, pdu: Pdu) -> None: ...
    def forget(self, link: SmgwLink) -> None: ...
    def unanswered(self, offer: Offer[Deliver]) -> None: ...


class SmgwLink(asyncio.Protocol):
    """One SP connection: framing, the login it made, and the Delivers awaiting an answer."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.framer = Framer()
        self.client_id = ""
        self.mode: int | None = None
        """The LoginMode of an accepted Login (None before it)."""
        self.waiting: dict[int, Offer[Deliver] | asyncio.Future[Pdu]] = {}
        self._sequence = itertools.count(1)

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            for frame in self.framer.feed(data):
                self.server.on_pdu(self, smgp_pdu.decode(frame))
        except PduError as exc:
            log.warning("smgw: %s; closing the link", exc)
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.forget(self)
        waiting, self.waiting = self.waiting, {}
        for waiter in waiting.values():
            if isinstance(waiter, Offer):
                self.server.unanswered(waiter)
            elif not waiter.done():
                waiter.set_exception(ConnectionError("the link closed before the answer"))

    def send(self, pdu: Pdu) -> None:
        if self.transport is not None:
            self.transport.write(smgp_pdu.encode(pdu))

    def request(self, command: Command, body: Deliver,
                waiter: Offer[Deliver] | asyncio.Future[Pdu]) -> int:
        sequence = next(self._sequence)
        self.waiting[sequence] = waiter
        self.send(Pdu(command, sequence, body))
        return sequence

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()



def report_deliver(msg_id: bytes, submit: Submit, stat: str, err: str, submitted: float,
                   done: float) -> Deliver:
    """The status report an SMGW sends for a Submit: from the handset to the number the
    message came from, its MsgID and dates (YYMMDDhhmm) in the report."""
    report = Report(msg_id, stat[:7], err, _stamp(submitted), _stamp(done),
                    text=submit.msg_content[:20].decode("latin-1"))
    return Deliver(msg_id=msg_id, is_report=1, msg_format=MsgFmt.ASCII,
                   recv_time=_stamp(done, "%Y%m%d%H%M%S"),
                   src_term_id=submit.dest_term_ids[0], dest_term_id=submit.src_term_id,
                   msg_content=smgp_text.encode_report(report))


def reply_delivers(phone: str, dest: str, text: str, reference: int) -> list[Deliver]:
    """A handset's reply as the Delivers an SMGW sends: one when it fits, else one per part
    after its concatenation header (TP_udhi=1, PkTotal and PkNumber as TLVs)."""
    fmt = smgp_text.format_for(text)
    parts = smgp_text.contents(text, fmt, reference)
    now = _stamp(time.time(), "%Y%m%d%H%M%S")
    if len(parts) == 1:
        return [Deliver(msg_id=bytes(10), msg_format=fmt, recv_time=now, src_term_id=phone,
                        dest_term_id=dest, msg_content=parts[0])]
    return [Deliver(msg_id=bytes(10), msg_format=fmt, recv_time=now, src_term_id=phone,
                    dest_term_id=dest, msg_content=part,
                    tlvs=Tlvs(tp_udhi=1, pk_total=len(parts), pk_number=n))
            for n, part in enumerate(parts, 1)]


def text_of(submit: Submit) -> str:
    content = submit.msg_content
    if submit.tlvs.tp_udhi:
        try:
            content = smgp_text.strip_udh(content)
        except PduError:
            return ""
    try:
        return smgp_text.decode_text(content, submit.msg_format)
    except PduError:
        return ""


def _stamp(at: float, layout: str = "%y%m%d%H%M") -> str:
    return datetime.fromtimestamp(at, UTC).strftime(layout)
