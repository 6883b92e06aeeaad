"""The SMGP 3.0 channel (China Telecom): Yizhan as an SP logged in to a carrier's SMGW.

Consumes `SubmitRequest`s from the dispatch worker and answers each with a value, as the SMPP
channel does: `Accepted` (the gateway's 10-octet MsgID, as 20 hex digits), `Retryable` (not
logged in, or Status 1 SYSTEM_BUSY: the gateway's throttling, which halves the window and
pauses submits for `throttle_backoff` seconds), `Rejected` (any other Status, as the code
`SMGP:<status>`, explained by the channel's code table) or `Ambiguous` (a Submit left and
no answer came). Status reports and replies arrive in Deliver (IsReport 1 or 0) and go to
the event sink; each Deliver is answered once stored (Status 1 when the sink failed, so the
gateway offers it again). A report's `stat` and `err` are read through the channel's code
table (`data/smgp.codes.toml` under the channel's own `codes` file); a reply is
attributed by the extension that follows the channel's number in its DestTermID.

The session (`session.Session`: one link kept logged in with a jittered back-off, the
window, pacing, the submit journal, Active_Test keep-alive, the deliver loop) is the one the
SMPP channel runs on; this module is SMGP's part: Login (LoginMode 2, transmit) with both
authenticators checked, Exit, Submit bodies with their TLVs (long text in parts with TP_udhi,
PkTotal and PkNumber), Submit_Resp, Deliver and Deliver_Resp.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from yizhan.dispatch.channels import smgp_text
from yizhan.dispatch.channels.session import BindRefused, Session, Slots
from yizhan.dispatch.channels.session import Link as SessionLink
from yizhan.dispatch.channels.smgp_pdu import (
    HEADER,
    Body,
    Command,
    Deliver,
    Framer,
    Login,
    LoginMode,
    LoginResp,
    MsgIdResp,
    Pdu,
    PduError,
    Status,
    Submit,
    Tlvs,
    decode,
    encode_body,
)
from yizhan.dispatch.channels.smgp_text import MsgFmt, check_server, client_authenticator
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

log = logging.getLogger("yizhan.smgp")

THROTTLES = frozenset({Status.SYSTEM_BUSY})
"""Submit_Resp statuses that mean "slow down": retryable, and they shrink the window."""


def builtin_codes() -> dict[str, Any]:
    """The SMGP Status table (`data/smgp.codes.toml`, with its source), as data."""
    text = resources.files("yizhan.dispatch.channels").joinpath(
        "data/smgp.codes.toml").read_text("utf-8")
    return tomllib.loads(text)


def code_table(path: Path | None = None) -> CodeTable:
    """The built-in SMGP table with the channel's own file (`codes = "..."`) read over it."""
    data = builtin_codes()
    if path is not None:
        own = tomllib.loads(path.read_text(encoding="utf-8"))
        data["codes"] = {**data["codes"], **own.get("codes", {})}
    return CodeTable.from_data(data, path.stem if path is not None else "smgp")


@dataclass(frozen=True, slots=True)
class SmgpConfig:
    """One SMGP channel. Every field is a per-channel setting (docs/channels.md "SMGP")."""

    name: str
    host: str
    port: int
    client_id: str
    """The SP's account on the gateway (ClientID, 8 octets at most)."""
    secret: str = ""
    """The shared secret of the Login's authenticators (15 octets at most)."""
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
    channel_code: str = ""
    """SrcTermID is `source_prefix` + channel_code + the message's extension code."""
    source_prefix: str = "106"
    dest_prefix: str = ""
    """Written before the national number in DestTermID ("86" for a gateway that wants it;
    most take 11 digits)."""
    service_id: str = ""
    fee_type: str = "00"
    fee_code: str = "000000"
    fixed_fee: str = "000000"
    priority: int = 0
    need_report: int = 1
    msg_src: str = ""
    """The MsgSrc TLV (the SP's enterprise code) where the gateway requires it."""
    text_format: Literal["auto", "ucs2", "gbk"] = "auto"
    """auto: ASCII for GSM-compatible text, else UCS2; or always UCS2, or always GBK."""
    uplink_parts_timeout: float = 60.0
    receipt_utc_offset: float = 0.0
    """Hours east of UTC in which the gateway writes report dates (8 for China Telecom)."""
    codes: CodeTable = field(default_factory=code_table)


class SmgpLink(SessionLink):
    """One SMGP connection: the SMGP half of `session.Link`. Answers Active_Test itself."""

    logger = "yizhan.smgp"
    keepalive_name = "Active_Test"

    def __init__(self, on_request: Any, *, name: str, response_timeout: float = 10.0,
                 keepalive: float = 30.0) -> None:
        super().__init__(on_request, name=name, response_timeout=response_timeout,
                         keepalive=keepalive)
        self._framer = Framer()

    def data_received(self, data: bytes) -> None:
        self._last_heard = self._loop.time()
        try:
            frames = self._framer.feed(data)
        except PduError as exc:  # the stream cannot be framed any more: drop the link
            log.warning("%s: %s; closing the link", self.name, exc)
            self.close()
            return
        for raw in frames:
            if raw[4] & 0x80:  # a response: to its waiter, decoded only when awaited so
                self._answered(raw)
                continue
            try:
                pdu = decode(raw)
            except PduError as exc:
                log.warning("%s: %s", self.name, exc)
                if raw[4:8] == Command.DELIVER.to_bytes(4, "big"):
                    self.write(Command.DELIVER_RESP, exc.sequence, 0,
                               MsgIdResp(bytes(10), Status.BAD_STRUCTURE))
                continue
            if pdu.command is Command.ACTIVE_TEST:
                self.write(Command.ACTIVE_TEST_RESP, pdu.sequence, 0, None)
            else:
                self._on_request(self, pdu)

    def _answered(self, raw: bytes) -> None:
        entry = self._pending.pop(int.from_bytes(raw[8:12], "big"), None)
        if entry is None or entry[0].done():
            return
        if entry[2]:
            entry[0].set_result(raw)
            return
        try:
            entry[0].set_result(decode(raw))
        except PduError as exc:  # its request fails as if nothing had come
            log.warning("%s: %s", self.name, exc)
            entry[0].set_exception(TimeoutError(str(exc)))

    def write(self, command: int, sequence: int, status: int, body: Body | bytes) -> None:
        """Queue a PDU (SMGP's header has no status: `status` is ignored)."""
        if not isinstance(body, bytes):
            body = encode_body(body)
        self._out.append(HEADER.pack(12 + len(body), command, sequence))
        self._out.append(body)
        self._schedule_flush()

    def keepalive_request(self) -> asyncio.Future[Any]:
        return self.request(Command.ACTIVE_TEST, timeout=self.keepalive)


Ack = tuple[SmgpLink, int, bytes]
"""A Deliver to answer: its link, sequence and MsgID."""


class SmgpChannel(Session[SmgpLink, Ack]):
    """The SMGP protocol on the channel session: Login, Submit, Deliver, Exit."""

    submit_command = Command.SUBMIT
    answer_name = "Submit_Resp"
    logger = "yizhan.smgp"

    def __init__(self, config: SmgpConfig, clock: Clock, slots: Slots | None = None) -> None:
        super().__init__(config, clock, slots)
        self.config = config
        self._source = self._number = f"{config.source_prefix}{config.channel_code}"

    # ---- logging in ---------------------------------------------------------------------

    async def _bind_links(self) -> str:
        c = self.config
        loop = asyncio.get_running_loop()
        _, link = await asyncio.wait_for(loop.create_connection(
            lambda: SmgpLink(self._on_request, name=self.name,
                             response_timeout=c.response_timeout,
                             keepalive=c.active_test_seconds), c.host, c.port),
            c.response_timeout)
        self._links.append(link)  # closed by the session if the login fails
        stamp = smgp_text.timestamp_of(self._clock.now())
        auth = client_authenticator(c.client_id, c.secret, stamp)
        answer = await link.request(Command.LOGIN, Login(c.client_id, auth,
                                                         LoginMode.TRANSMIT, stamp))
        body = answer.body
        if not isinstance(body, LoginResp):
            raise BindRefused(f"answered the Login with {answer.command.title}")
        if body.status != Status.OK:
            raise BindRefused(smgp_text.status_text(body.status))
        if not check_server(body.authenticator, body.status, auth, c.secret):
            raise BindRefused("the gateway's AuthenticatorServer does not match the shared "
                              "secret: is this the carrier's gateway?")
        link.bound_as = LoginMode.TRANSMIT
        link.system_id = c.client_id
        link.before_write = self._journal_leaving
        self._tx = link
        return "transmit"

    def _goodbye(self, link: SmgpLink) -> asyncio.Future[Any]:
        return link.request(Command.EXIT, timeout=2.0)

    # ---- submitting ---------------------------------------------------------------------

    def _bodies(self, request: SubmitRequest) -> list[bytes]:
        """The encoded Submit bodies of a message: one, or one per part."""
        c = self.config
        fmt = {"ucs2": MsgFmt.UCS2, "gbk": MsgFmt.GBK}.get(
            c.text_format) or smgp_text.format_for(request.content)
        phone = request.phone
        dest = c.dest_prefix + (phone[3:] if phone.startswith("+86") else phone.lstrip("+"))
        source = request.source_addr or self._source + request.extension
        contents = smgp_text.contents(request.content, fmt, self._reference(dest, wide=False))
        total = len(contents)
        msg_src = c.msg_src or None
        bodies = []
        for number, content in enumerate(contents, 1):
            tlvs = Tlvs(msg_src=msg_src) if total == 1 else Tlvs(
                tp_udhi=1, pk_total=total, pk_number=number, msg_src=msg_src)
            bodies.append(encode_body(Submit(
                dest_term_ids=[dest], msg_content=content, msg_format=fmt, src_term_id=source,
                need_report=c.need_report, priority=c.priority, service_id=c.service_id,
                fee_type=c.fee_type, fee_code=c.fee_code, fixed_fee=c.fixed_fee, tlvs=tlvs)))
        return bodies

    def _read_answer(self, link: SmgpLink, response: bytes) -> str | SubmitResult:
        # An answer that cannot be read may still mean the gateway took the message: there
        # is no MsgID to match its report to, and it must not be sent again.
        try:
            pdu = decode(response)
        except PduError as exc:
            log.warning("channel %s: %s", self.name, exc)
            return Ambiguous(f"channel {self.name}: malformed Submit_Resp ({exc})")
        body = pdu.body
        if not isinstance(body, MsgIdResp) or pdu.command is not Command.SUBMIT_RESP:
            return Ambiguous(f"channel {self.name}: the Submit was answered with "
                             f"{pdu.command.title}")
        if body.status == Status.OK:
            self._accepted()
            return body.msg_id.hex()
        name = smgp_text.status_text(body.status)
        if body.status in THROTTLES:
            self._throttled()
            return Retryable(f"channel {self.name}: {name}", self.config.throttle_backoff)
        return Rejected(f"SMGP:{body.status}", f"channel {self.name} refused the submit: {name}")

    # ---- receiving ----------------------------------------------------------------------

    def _on_request(self, link: SmgpLink, pdu: Pdu) -> None:
        if pdu.command is Command.DELIVER:
            self._on_deliver(link, pdu)
        elif pdu.command is Command.EXIT:
            link.unbound = True
            link.write(Command.EXIT_RESP, pdu.sequence, 0, None)
            link.close()
        else:
            log.warning("channel %s: unexpected %s from the gateway", self.name,
                        pdu.command.title)

    def _acknowledge(self, answers: list[Ack], stored: bool) -> None:
        """Answer the Delivers: SYSTEM_BUSY when not stored (the gateway offers again)."""
        status = Status.OK if stored else Status.SYSTEM_BUSY
        for link, sequence, msg_id in answers:
            link.write(Command.DELIVER_RESP, sequence, 0, MsgIdResp(msg_id, status))

    def _event_of(self, link: SmgpLink, request: Pdu, now: datetime,
                  answers: list[Ack]) -> Receipt | Uplink | None:
        body = request.body
        assert isinstance(body, Deliver)
        ack = (link, request.sequence, body.msg_id)
        if not body.is_report:
            sm = ShortMessage(body.src_term_id, body.dest_term_id, body.msg_content,
                              esm_class=ESM_UDHI if body.tlvs.tp_udhi else 0,
                              data_coding=body.msg_format)
            return self._offer_reply(sm, ack, now, answers)
        answers.append(ack)
        try:
            report = smgp_text.decode_report(body.msg_content)
        except PduError as exc:
            log.warning("channel %s: a status report that cannot be read (%s): %r", self.name,
                        exc, body.msg_content[:80])
            return None
        status, code = self.config.codes.read(report.stat, report.err)
        if status is MessageStatus.WAITING:  # not final (the channel's table says so)
            return None
        if status is MessageStatus.SUCCESS:
            code = DELIVERED
        remote_id = self.parts.resolve(report.msg_id.hex(), code)
        if remote_id is None:  # a part of a long message that does not decide it
            return None
        raw = (f"id:{report.msg_id.hex()} sub:{report.sub} dlvrd:{report.dlvrd} "
               f"submit date:{report.submit_date} done date:{report.done_date} "
               f"stat:{report.stat} err:{report.err}")
        return Receipt(self.name, remote_id, code, now, raw, status.value,
                       handset_number(body.src_term_id),
                       submitted_at(raw, self.config.receipt_utc_offset))

    def _part_text(self, part: ShortMessage) -> str:
        return _text_of(part)

    def _reply_phone(self, address: str) -> str:
        return handset_number(address) or address


def _text_of(sm: ShortMessage) -> str:
    """A reply's text by its MsgFormat (carried in `data_coding`), header stripped; a binary
    format reads as its hex."""
    octets = sm.short_message
    if sm.esm_class & ESM_UDHI and octets:
        octets = octets[octets[0] + 1:]
    try:
        return smgp_text.decode_text(octets, sm.data_coding)
    except PduError:
        return octets.hex()
