"""The SMPP 3.4 channel: Yizhan as an ESME bound to a carrier's SMSC.

Consumes `SubmitRequest`s from the dispatch worker and answers each with a value: `Accepted`
(the carrier's message id, canonical per `IdFormat`), `Retryable` (nothing reached the
carrier: not bound, throttled, queue full), `Rejected` (the carrier's status, e.g.
`ESME_RINVDSTADR`) or `Ambiguous` (a submit_sm left and no answer came: a timeout or a lost
link; never resent, docs/architecture.md "No duplicate submits"). Receipts and uplinks arriving in
deliver_sm go to the event sink, and each deliver_sm is answered only once the sink has
stored it (a failure answers ESME_RX_T_APPN, so the SMSC offers it again). A receipt is
classified here, once, with the channel's code table, and leaves with its status, code,
handset and submit date.

The session (`session.Session`: the bind kept by one task with a jittered back-off, the
window, pacing, the submit journal, the deliver loop) is shared with the other gateway
protocols; this module is SMPP's part of it: bind (transceiver, or transmitter + receiver)
and unbind, submit_sm bodies and their answers (`ESME_RTHROTTLED` / `ESME_RMSGQFUL` halve
the window and pause submits for `throttle_backoff` seconds), deliver_sm read as receipts
and replies and answered with deliver_sm_resp. Long messages leave as parts
with a UDH (8- or 16-bit reference, rotating per destination), SAR TLVs, or as one
submit_sm with message_payload (`long_messages`).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from yizhan.dispatch.channels.session import BindRefused, Session, Slots
from yizhan.dispatch.channels.smpp_link import Link
from yizhan.dispatch.channels.smpp_pdu import (
    ESM_RECEIPT,
    ESM_UDHI,
    Bind,
    BindResp,
    Command,
    Pdu,
    PduError,
    Status,
    SubmitTemplate,
    Tag,
    decode_short_message,
    parse_status,
    peek_receipt,
    peek_source,
    status_name,
    tlv_int,
)
from yizhan.dispatch.channels.smpp_receipts import (
    DELIVERED,
    IdBase,
    IdFormat,
    handset_number,
    read_receipt,
    submitted_at,
)
from yizhan.domain import segments
from yizhan.domain.codes import PLATFORM, CodeTable
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

log = logging.getLogger("yizhan.smpp")

_COMMAND_STATUS = struct.Struct(">II")
"""command_id and command_status, after a PDU's command_length."""

THROTTLES = frozenset({Status.RTHROTTLED, Status.RMSGQFUL})
"""Slow down: always retryable, and they shrink the window."""
RETRYABLE_STATUSES = frozenset({Status.RSYSERR, Status.RX_T_APPN})
"""Besides the throttles, statuses that say the SMSC did not take the message and may later:
safe to send again. The default of `SmppConfig.retryable`."""
RAW_REQUESTS = frozenset({Command.DELIVER_SM})
"""deliver_sm reach the channel undecoded: a receipt reads only the fields it needs."""


@dataclass(frozen=True, slots=True)
class SmppConfig:
    """One SMPP channel. Every field is a per-channel setting (docs/channels.md)."""

    name: str
    host: str
    port: int
    system_id: str
    password: str = ""
    system_type: str = ""
    bind: Literal["transceiver", "split"] = "transceiver"
    """transceiver: one link; split: a transmitter link and a receiver link."""
    window: int = 100
    max_per_second: float = 0.0
    max_binds: int = 0
    """Most binds the carrier allows this account across every dispatch process on the
    store (0: no limit): a process binds only while it holds one of the store's slots
    (`runtime/bind_slots.py`, docs/deployment.md)."""
    response_timeout: float = 10.0
    enquire_link_seconds: float = 30.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    throttle_backoff: float = 1.0
    channel_code: str = ""
    """Source address is `106` + channel_code + the message's extension code."""
    source_prefix: str = "106"
    source_ton: int = 0
    source_npi: int = 1
    dest_ton: int = 1
    dest_npi: int = 1
    registered_delivery: int = 1
    gsm7_data_coding: int = 0
    ucs2_data_coding: int = 8
    long_messages: Literal["udh8", "udh16", "sar", "payload"] = "udh8"
    ids: IdFormat = field(default_factory=IdFormat)
    uplink_parts_timeout: float = 60.0
    """Seconds a long uplink waits for its missing parts before it is delivered without them."""
    receipt_utc_offset: float = 0.0
    """Hours east of UTC in which the carrier writes receipt dates (8 for China's carriers;
    the simulator writes UTC)."""
    codes: CodeTable = PLATFORM
    """The carrier's receipt codes (`CodeTable.load(path)`); default: the platform's rules."""
    retryable: frozenset[int] = RETRYABLE_STATUSES
    """submit_sm_resp statuses, besides the throttles, answered `Retryable` rather than
    `Rejected` (`statuses(["ESME_RSYSERR", "0x401"])` reads a configured list)."""


class SmppChannel(Session[Link, tuple[Link, int]]):
    """The SMPP protocol on the channel session (`session.Session`): bind, submit_sm,
    deliver_sm, unbind."""

    submit_command = Command.SUBMIT_SM
    answer_name = "submit_sm_resp"
    logger = "yizhan.smpp"

    def __init__(self, config: SmppConfig, clock: Clock, slots: Slots | None = None) -> None:
        super().__init__(config, clock, slots)
        self.config = config
        self._template = SubmitTemplate(
            source_ton=config.source_ton, source_npi=config.source_npi,
            dest_ton=config.dest_ton, dest_npi=config.dest_npi,
            registered_delivery=config.registered_delivery)
        self._source = self._number = f"{config.source_prefix}{config.channel_code}"

    # ---- binding ------------------------------------------------------------------------

    async def _bind_links(self) -> str:
        if self.config.bind == "transceiver":
            commands = [Command.BIND_TRANSCEIVER]
        else:
            commands = [Command.BIND_TRANSMITTER, Command.BIND_RECEIVER]
        for command in commands:
            link = await self._open(command)
            self._links.append(link)
            if command is not Command.BIND_RECEIVER:
                self._tx = link
        return self.config.bind

    def _goodbye(self, link: Link) -> asyncio.Future[Pdu]:
        return link.request(Command.UNBIND, timeout=2.0)

    async def _open(self, command: Command) -> Link:
        c = self.config
        loop = asyncio.get_running_loop()
        _, link = await asyncio.wait_for(loop.create_connection(
            lambda: Link(self._on_request, name=self.name, response_timeout=c.response_timeout,
                         keepalive=c.enquire_link_seconds, raw_requests=RAW_REQUESTS),
            c.host, c.port), c.response_timeout)
        try:
            answer = await link.request(command, Bind(c.system_id, c.password, c.system_type))
        except BaseException:
            link.close()
            raise
        if answer.status != Status.ROK:
            link.close()
            raise BindRefused(status_name(answer.status))
        assert isinstance(answer.body, BindResp)
        link.bound_as = command
        link.system_id = answer.body.system_id
        link.before_write = self._journal_leaving
        return link

    # ---- submitting ------------------------------------------------------------------

    def _read_answer(self, link: Link, response: bytes) -> str | SubmitResult:
        # the response undecoded: its header, then the message id (a C-octet string)
        command_id, status = _COMMAND_STATUS.unpack_from(response, 4)
        if status == Status.ROK and command_id == Command.SUBMIT_SM_RESP:
            end = response.find(0, 16)
            if end < 0 and len(response) > 16:
                return self._malformed(link, response)
            if self._window.limit < self._window.size:
                self._window.succeeded()
            return self.config.ids.of_submit(response[16:end].decode("latin-1"))
        name = status_name(status)
        if status in THROTTLES:
            self._throttled()
            return Retryable(f"channel {self.name}: {name}", self.config.throttle_backoff)
        if status in self.config.retryable:
            return Retryable(f"channel {self.name}: {name}", self.config.throttle_backoff)
        return Rejected(name, f"channel {self.name} refused the submit: {name}")

    def _malformed(self, link: Link, response: bytes) -> SubmitResult:
        """A submit_sm_resp ESME_ROK whose message id has no NUL: the carrier may have taken
        the message, but there is no id to match its receipt to."""
        sequence = int.from_bytes(response[12:16], "big")
        log.warning("channel %s: malformed submit_sm_resp (no NUL after the message id): %r",
                    self.name, response[:64])
        link.write(Command.GENERIC_NACK, sequence, Status.RINVCMDLEN, b"")
        return Ambiguous(f"channel {self.name}: malformed submit_sm_resp (no message id)")

    def _bodies(self, request: SubmitRequest) -> list[bytes]:
        """The encoded submit_sm bodies of a message: one, or one per part."""
        c = self.config
        enc = segments.encoding_of(request.content)
        gsm = enc is segments.Encoding.GSM7
        coding = c.gsm7_data_coding if gsm else c.ucs2_data_coding
        dest = request.phone.removeprefix("+")
        source = request.source_addr or self._source + request.extension
        whole = segments.encode(request.content, enc)
        body = self._template.body
        if len(whole) <= 140 or (gsm and len(whole) <= 160):  # one part (the common case)
            return [body(source, dest, whole, coding)]
        if c.long_messages == "payload":
            return [body(source, dest, b"", coding, tlvs={Tag.MESSAGE_PAYLOAD: whole})]
        wide = c.long_messages == "udh16"
        parts = segments.split(request.content, wide_reference=wide)
        ref = self._reference(dest, wide=wide)
        total = len(parts)
        if c.long_messages == "sar":
            return [body(source, dest, segments.encode(part, enc), coding, tlvs={
                Tag.SAR_MSG_REF_NUM: tlv_int(ref, 2), Tag.SAR_TOTAL_SEGMENTS: tlv_int(total, 1),
                Tag.SAR_SEGMENT_SEQNUM: tlv_int(n, 1)}) for n, part in enumerate(parts, 1)]
        return [body(source, dest, segments.udh(ref, total, n, wide=wide)
                     + segments.encode(part, enc), coding, ESM_UDHI)
                for n, part in enumerate(parts, 1)]

    # ---- receiving ----------------------------------------------------------------------

    def _on_request(self, link: Link, pdu: Pdu) -> None:
        if pdu.command is Command.DELIVER_SM:
            self._on_deliver(link, pdu)
        elif pdu.command is Command.UNBIND:
            link.unbound = True
            link.respond(pdu)
            link.close()
        else:
            link.send(Pdu(Command.GENERIC_NACK, pdu.sequence, Status.RINVCMDID))

    def _acknowledge(self, answers: list[tuple[Link, int]], stored: bool) -> None:
        """Answer the deliver_sm: ESME_RX_T_APPN when not stored (the SMSC offers again)."""
        status = Status.ROK if stored else Status.RX_T_APPN
        for link, sequence in answers:
            link.write(Command.DELIVER_SM_RESP, sequence, status, b"\0")

    def _event_of(self, link: Link, request: Pdu, now: datetime,
                  answers: list[tuple[Link, int]]) -> Receipt | Uplink | None:
        assert isinstance(request.body, bytes)  # deliver_sm arrive undecoded
        try:
            return self._deliver_event(request.body, now, (link, request.sequence), answers)
        except PduError as exc:
            log.warning("channel %s: %s", self.name, exc)
            link.write(Command.GENERIC_NACK, request.sequence, Status.RINVCMDLEN, b"")
            return None

    def _deliver_event(self, body: bytes, now: datetime, ack: tuple[Link, int],
                       answers: list[tuple[Link, int]]) -> Receipt | Uplink | None:
        """The event an encoded deliver_sm body carries (None: nothing to report yet). Adds
        the answers it releases to `answers` (none for a part of an incomplete uplink)."""
        esm_class, short_message, tlv_id, state = peek_receipt(body)
        if esm_class & 0x3C != ESM_RECEIPT:
            return self._offer_reply(decode_short_message(body), ack, now, answers)
        answers.append(ack)
        parsed = read_receipt(short_message, tlv_id, state)
        if parsed is None:
            log.warning("channel %s: receipt without a message id: %r", self.name,
                        short_message[:80])
            return None
        status, code = self.config.codes.read(parsed.code, parsed.err)
        if status is MessageStatus.WAITING:  # not final (the channel's table says so)
            return None
        if status is MessageStatus.SUCCESS:
            code = DELIVERED
        remote_id = self.parts.resolve(self.config.ids.of_receipt(parsed.remote_id), code)
        if remote_id is None:  # a part of a long message that does not decide it
            return None
        # The handset and the submit date let the store match a receipt whose id matches
        # nothing to a message whose submit answer was lost (docs/channels.md).
        return Receipt(self.name, remote_id, code, now, parsed.raw, status.value,
                       handset_number(peek_source(body)),
                       submitted_at(parsed.raw, self.config.receipt_utc_offset))


def statuses(names: Sequence[str]) -> frozenset[int]:
    """A configured list of submit_sm_resp statuses (`ESME_RSYSERR`, `0x401`, ...)."""
    return frozenset(parse_status(name) for name in names)


__all__ = ["BindRefused", "CodeTable", "IdBase", "IdFormat", "SmppChannel", "SmppConfig",
           "statuses"]

