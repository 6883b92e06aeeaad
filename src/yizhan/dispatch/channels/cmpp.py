"""The CMPP 2.0 / 3.0 channel: Yizhan as an SP connected to a carrier's ISMG (China
Mobile's gateways, and most Chinese aggregators).

The session (`session.Session`: the connection kept by one task with a jittered back-off,
the window, pacing, the submit journal, the deliver loop) is shared with SMPP; this module
is CMPP's part of it. It logs in with CMPP_CONNECT (the MD5 authenticator over the SP code,
the shared secret and a China-time timestamp; the gateway's answer is checked the same way),
submits CMPP_SUBMIT and reads the 8-byte Msg_Id of each CMPP_SUBMIT_RESP (canonical as its
decimal value), and reads CMPP_DELIVER: a status report (Registered_Delivery = 1) becomes a
`Receipt`, its Stat mapped through the channel's code table (the China Mobile table is
`data/cmpp.codes.toml`), and a reply becomes an `Uplink`, attributed by the extension that
follows the channel's service code in its Dest_Id. Each deliver is answered with
CMPP_DELIVER_RESP only once the sink stored it (Result 9 when it could not: the gateway
offers it again). CMPP_TERMINATE ends a link cleanly either way.

Result 8 (flow control) of a CMPP_SUBMIT_RESP halves the window and pauses submits; any
other non-zero Result is `Rejected` with the code `CMPP_<name>` (`CMPP_BAD_DEST_TERMINAL_ID`),
unless the channel lists it in `retryable`. Text leaves as ASCII when it can, else UCS2, or
GBK when `encoding = "gbk"`; a long text leaves as parts with TP_udhi = 1 and a UDH
(8- or 16-bit reference), Pk_total / Pk_number set. The service code (Src_Id prefix), the
Service_Id, the extension and the fee fields are channel settings (docs/channels.md "CMPP").
"""

from __future__ import annotations

import asyncio
import logging
import struct
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Literal

from yizhan.dispatch.channels.cmpp_link import CmppLink
from yizhan.dispatch.channels.cmpp_pdu import (
    Command,
    Connect,
    ConnectResp,
    Deliver,
    Pdu,
    PduError,
    Result,
    SubmitTemplate,
    Version,
    decode,
    peek_report,
)
from yizhan.dispatch.channels.cmpp_text import (
    SINGLE_OCTETS,
    MsgFmt,
    check_ismg,
    connect_status_text,
    contents,
    decode_report,
    decode_text,
    encode_text,
    format_for,
    source_authenticator,
    strip_udh,
    timestamp_of,
)
from yizhan.dispatch.channels.session import BindRefused, Session, Slots
from yizhan.dispatch.channels.smpp_pdu import ESM_UDHI, ShortMessage
from yizhan.dispatch.channels.smpp_receipts import DELIVERED, handset_number, submitted_at
from yizhan.domain.codes import CodeTable
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import (
    Ambiguous,
    Clock,
    Rejected,
    Retryable,
    SubmitRequest,
    SubmitResult,
)

log = logging.getLogger("yizhan.cmpp")

_MSG_ID = struct.Struct(">Q")
"""A CMPP_SUBMIT_RESP's Msg_Id, after the 12-octet header; Result follows."""
_SUBMIT_RESP_ID = Command.SUBMIT_RESP.to_bytes(4, "big")
THROTTLES = frozenset({Result.FLOW_CONTROL})
NOT_STORED = 9
"""CMPP_DELIVER_RESP Result for a deliver we could not store (any non-zero Result makes the
ISMG offer it again; 9 is the first value the 2.0 table leaves to the gateway)."""

RAW_REQUESTS = frozenset({Command.DELIVER})
"""CMPP_DELIVER reach the channel undecoded: a status report is read at its fixed places."""
_DELIVER_RESP = {Version.V20: struct.Struct(">QB"), Version.V30: struct.Struct(">QI")}

Ack = tuple[CmppLink, int, int]
"""A deliver's link, Sequence_Id and Msg_Id: what its CMPP_DELIVER_RESP needs."""


@lru_cache(maxsize=1)
def carrier_codes() -> CodeTable:
    """CMPP's code table: the spec's report Stat values and SUBMIT_RESP Results."""
    text = resources.files("yizhan.dispatch.channels").joinpath("data/cmpp.codes.toml")
    return CodeTable.from_data(tomllib.loads(text.read_text("utf-8")), "cmpp")


@dataclass(frozen=True, slots=True)
class CmppConfig:
    """One CMPP channel. Every field is a per-channel setting (docs/channels.md "CMPP")."""

    name: str
    host: str
    port: int
    source_addr: str
    """The SP's enterprise code (企业代码, 6 digits): CONNECT's Source_Addr, Msg_src."""
    password: str = ""
    """The shared secret of the MD5 authenticator."""
    version: Literal["2.0", "3.0"] = "3.0"
    service_code: str = ""
    """The SP's access number (接入号, e.g. 1069001): Src_Id is it + the extension."""
    service_id: str = ""
    """Service_Id (业务代码), 10 octets at most."""
    window: int = 100
    max_per_second: float = 0.0
    max_binds: int = 0
    """Most binds the carrier allows this account across every dispatch process on the
    store (0: no limit): a process binds only while it holds one of the store's slots
    (`runtime/bind_slots.py`, docs/deployment.md)."""
    response_timeout: float = 10.0
    active_test_seconds: float = 30.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    throttle_backoff: float = 1.0
    registered_delivery: int = 1
    msg_level: int = 0
    fee_user_type: int = 0
    """0: the destination pays; 1: the source; 2: the SP; 3: `fee_terminal_id`."""
    fee_terminal_id: str = ""
    fee_type: str = "01"
    """01 free, 02 per message, 03 monthly, 04 capped, 05 SP-billed."""
    fee_code: str = "000000"
    """In fen."""
    encoding: Literal["auto", "ucs2", "gbk"] = "auto"
    """auto: ASCII when every character is, else UCS2."""
    long_messages: Literal["udh8", "udh16"] = "udh8"
    uplink_parts_timeout: float = 60.0
    codes: CodeTable = field(default_factory=carrier_codes)
    """The carrier's report Stat codes (`CodeTable.load(path)`); default: CMPP's table
    (`data/cmpp.codes.toml`, its source named there)."""
    retryable: frozenset[int] = frozenset()
    """CMPP_SUBMIT_RESP Results, besides flow control, answered `Retryable`."""

    @property
    def wire_version(self) -> Version:
        return Version.V30 if self.version == "3.0" else Version.V20


def result_name(result: int) -> str:
    """The code a refused submit's record gets: `CMPP_BAD_DEST_TERMINAL_ID`, `CMPP_RESULT_77`."""
    try:
        return f"CMPP_{Result(result).name}"
    except ValueError:
        return f"CMPP_RESULT_{result}"


class CmppChannel(Session[CmppLink, Ack]):
    """The CMPP protocol on the channel session: CONNECT, SUBMIT, DELIVER, TERMINATE."""

    submit_command = Command.SUBMIT
    answer_name = "CMPP_SUBMIT_RESP"
    logger = "yizhan.cmpp"

    def __init__(self, config: CmppConfig, clock: Clock, slots: Slots | None = None) -> None:
        super().__init__(config, clock, slots)
        self.config = config
        self._version = config.wire_version
        self._wide = self._version is Version.V30
        self._number = config.service_code
        self._template = SubmitTemplate(
            self._version, service_id=config.service_id,
            registered_delivery=config.registered_delivery, msg_level=config.msg_level,
            fee_user_type=config.fee_user_type, fee_terminal_id=config.fee_terminal_id,
            fee_type=config.fee_type, fee_code=config.fee_code, msg_src=config.source_addr)
        self._resp = _DELIVER_RESP[self._version]

    # ---- connecting ---------------------------------------------------------------------

    async def _bind_links(self) -> str:
        c = self.config
        loop = asyncio.get_running_loop()
        _, link = await asyncio.wait_for(loop.create_connection(
            lambda: CmppLink(self._on_request, name=self.name, version=self._version,
                             response_timeout=c.response_timeout,
                             keepalive=c.active_test_seconds, raw_requests=RAW_REQUESTS),
            c.host, c.port), c.response_timeout)
        self._links.append(link)
        timestamp = timestamp_of(self._clock.now())
        authenticator = source_authenticator(c.source_addr, c.password, timestamp)
        answer = await link.request(Command.CONNECT, Connect(
            c.source_addr, authenticator, int(self._version), timestamp))
        body = answer.body
        if not isinstance(body, ConnectResp):
            raise BindRefused(f"answered {answer.command.title} to CMPP_CONNECT")
        if body.status != 0:
            raise BindRefused(connect_status_text(body.status))
        if not check_ismg(body.authenticator, body.status, authenticator, c.password,
                          self._version):
            raise BindRefused("the gateway's AuthenticatorISMG does not match the secret")
        link.bound_as = Command.CONNECT
        link.before_write = self._journal_leaving
        self._tx = link
        return f"CMPP {c.version}"

    def _goodbye(self, link: CmppLink) -> asyncio.Future[Pdu]:
        return link.request(Command.TERMINATE, timeout=2.0)

    # ---- submitting ---------------------------------------------------------------------

    def _bodies(self, request: SubmitRequest) -> list[bytes]:
        c = self.config
        fmt = (format_for(request.content) if c.encoding == "auto"
               else MsgFmt.GBK if c.encoding == "gbk" else MsgFmt.UCS2)
        dest = request.phone.removeprefix("+")
        if dest.startswith("86") and len(dest) == 13:
            dest = dest[2:]  # CMPP's terminal ids are national: 13800138000
        src_id = request.source_addr or c.service_code + request.extension
        body = self._template.body
        whole = encode_text(request.content, fmt)
        if len(whole) <= (160 if fmt is MsgFmt.ASCII else SINGLE_OCTETS):  # the common case
            return [body(src_id, dest, whole, fmt)]
        wide = c.long_messages == "udh16"
        parts = contents(request.content, fmt, self._reference(dest, wide=wide), wide=wide)
        total = len(parts)
        return [body(src_id, dest, part, fmt, total, n, 1) for n, part in enumerate(parts, 1)]

    def _read_answer(self, link: CmppLink, response: bytes) -> str | SubmitResult:
        wanted = 24 if self._wide else 21
        if len(response) != wanted or response[4:8] != _SUBMIT_RESP_ID:
            # the gateway may have taken the message: there is no Result to trust
            log.warning("channel %s: malformed CMPP_SUBMIT_RESP: %r", self.name, response[:64])
            return Ambiguous(f"channel {self.name}: malformed CMPP_SUBMIT_RESP "
                             f"({len(response)} octets)")
        msg_id = _MSG_ID.unpack_from(response, 12)[0]
        result = int.from_bytes(response[20:], "big")
        if result == 0:
            if self._window.limit < self._window.size:
                self._window.succeeded()
            return str(msg_id)
        name = result_name(result)
        if result in THROTTLES:
            self._throttled()
            return Retryable(f"channel {self.name}: {name}", self.config.throttle_backoff)
        if result in self.config.retryable:
            return Retryable(f"channel {self.name}: {name}", self.config.throttle_backoff)
        return Rejected(name, f"channel {self.name} refused the submit: {name}")

    # ---- receiving ----------------------------------------------------------------------

    def _on_request(self, link: CmppLink, pdu: Pdu) -> None:
        if pdu.command is Command.DELIVER:
            self._on_deliver(link, pdu)
        elif pdu.command is Command.TERMINATE:
            link.unbound = True
            link.respond(pdu)
            link.close()
        else:
            log.warning("channel %s: unexpected %s from the gateway", self.name,
                        pdu.command.title)

    def _acknowledge(self, answers: list[Ack], stored: bool) -> None:
        result = 0 if stored else NOT_STORED
        pack = self._resp.pack
        for link, sequence, msg_id in answers:
            link.write(Command.DELIVER_RESP, sequence, 0, pack(msg_id, result))

    def _event_of(self, link: CmppLink, request: Pdu, now: datetime,
                  answers: list[Ack]) -> Receipt | Uplink | None:
        raw = request.body
        assert isinstance(raw, bytes)  # CMPP_DELIVER arrive undecoded (RAW_REQUESTS)
        peeked = peek_report(raw, self._version)
        try:
            if peeked is None:
                deliver = decode(raw, self._version).body
                assert isinstance(deliver, Deliver)
                if deliver.registered_delivery != 1:
                    return self._reply(deliver, (link, request.sequence, deliver.msg_id), now,
                                       answers)
                peeked = deliver.msg_id, deliver.msg_content
        except PduError as exc:  # answered at once: Result 1, a malformed message
            log.warning("channel %s: %s", self.name, exc)
            link.write(Command.DELIVER_RESP, request.sequence, 0,
                       self._resp.pack(0, Result.BAD_STRUCTURE))
            return None
        msg_id, content = peeked
        answers.append((link, request.sequence, msg_id))
        try:
            report = decode_report(content, self._version)
        except PduError as exc:  # acknowledged: offering it again would not mend it
            log.warning("channel %s: %s", self.name, exc)
            return None
        status, code = self.config.codes.read(report.stat)
        if status is MessageStatus.WAITING:  # not final (the channel's table says so)
            return None
        if status is MessageStatus.SUCCESS:
            code = DELIVERED
        remote_id = self.parts.resolve(str(report.msg_id), code)
        if remote_id is None:  # a part of a long message that does not decide it
            return None
        text = (f"id:{report.msg_id} submit date:{report.submit_time} "
                f"done date:{report.done_time} stat:{report.stat}")
        return Receipt(self.name, remote_id, code, now, text, status.value,
                       handset_number(report.dest_terminal_id), submitted_at(text, 8.0))

    def _reply(self, deliver: Deliver, ack: Ack, now: datetime,
               answers: list[Ack]) -> Uplink | None:
        """A handset's reply (None: a part of a long one, kept until it is whole)."""
        sm = ShortMessage(deliver.src_terminal_id, deliver.dest_id, deliver.msg_content,
                          esm_class=ESM_UDHI if deliver.tp_udhi else 0,
                          data_coding=deliver.msg_fmt)
        return self._offer_reply(sm, ack, now, answers)

    def _reply_phone(self, address: str) -> str:
        return handset_number(address) or address

    def _part_text(self, part: ShortMessage) -> str:
        """A reply's text: Msg_Fmt rides in `data_coding` (binary formats read as hex)."""
        return _text_of(part)


def _text_of(sm: ShortMessage) -> str:
    """A reply part's text: Msg_Fmt rides in `data_coding` (binary formats read as hex)."""
    octets = sm.short_message
    if sm.esm_class & ESM_UDHI and octets:
        try:
            octets = strip_udh(octets)
        except PduError:
            pass
    try:
        return decode_text(octets, sm.data_coding)
    except PduError:
        return octets.hex()


__all__ = ["CmppChannel", "CmppConfig", "result_name"]
