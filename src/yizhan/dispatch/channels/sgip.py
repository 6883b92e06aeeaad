"""The SGIP 1.2 channel: Yizhan as a China Unicom SP, on the session core (`session.py`).

Consumes `SubmitRequest`s from the dispatch worker and answers each with a value, as every
channel does: `Accepted` (the id is the Submit's 12-octet Sequence Number as text, which the
gateway's Report names again), `Retryable` (not bound; Result 11 NODE_BUSY, SGIP's
throttling, which also halves the window and pauses; a Result listed in `retryable`),
`Rejected` (any other Result, as `SGIP:006`) or `Ambiguous` (a Submit left and no answer
came: never sent again, docs/architecture.md "No duplicate submits").

SGIP splits a session in two. Our connection to the gateway (Bind with Login Type 1) carries
Submits only, and is kept by the core: reconnect with back-off, the window, pacing, the
submit journal. The gateway delivers Reports and handsets' replies by connecting back to us:
the channel runs an `SgipListener` (`listen_host`, `listen_port`) that checks the gateway's
Bind (Login Type 2, `listen_login_name` and `listen_password`) and hands every Report and
Deliver to the core's deliver loop, which stores their events in one sink call per turn and
only then answers them (Result 11 when not stored: the gateway offers them again). Reports
become receipts through the channel's code table (`codes`; China Unicom's shipped table by
default, `data/sgip.codes.toml`), replies become uplinks named by their extension (what
follows `source_prefix` + `channel_code` in the number replied to; the core puts long ones
back together), and the parts of long messages are folded as on SMPP: each part is its own
Submit, the message's id is its first part's, and the parts' Reports decide it together
(`PartGroups`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from yizhan.dispatch.channels import session
from yizhan.dispatch.channels.session import BindRefused, Slots
from yizhan.dispatch.channels.sgip_link import Link, bind
from yizhan.dispatch.channels.sgip_listener import Credentials, SgipListener
from yizhan.dispatch.channels.sgip_pdu import (
    SEQUENCE,
    Command,
    Deliver,
    LoginType,
    Pdu,
    PduError,
    Report,
    Resp,
    Result,
    Sequence,
    Submit,
    decode,
    encode_body,
)
from yizhan.dispatch.channels.sgip_receipts import default_codes, receipt_of
from yizhan.dispatch.channels.sgip_text import (
    MessageCoding,
    contents,
    format_for,
    result_text,
    text_of,
)
from yizhan.dispatch.channels.smpp_pdu import ESM_UDHI, ShortMessage
from yizhan.dispatch.channels.smpp_receipts import handset_number
from yizhan.domain.codes import CodeTable
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import (
    Ambiguous,
    Clock,
    EventSink,
    Rejected,
    Retryable,
    SubmitRequest,
    SubmitResult,
)

RETRYABLE_RESULTS = frozenset({Result.TOO_MANY_CONNECTIONS, Result.SYSTEM_FAILURE,
                               Result.SMSC_QUEUE_FULL})
"""Besides NODE_BUSY (throttling), Results that say the gateway did not take the message and
may later: safe to send again. The default of `SgipConfig.retryable`."""

Ack = tuple[Link, Pdu]


@dataclass(frozen=True, slots=True)
class SgipConfig:
    """One SGIP channel. Every field is a per-channel setting (docs/channels.md "SGIP")."""

    name: str
    host: str
    port: int
    login_name: str
    """Bind's Login Name for our connection (agreed with the carrier)."""
    password: str = ""
    node: int = 0
    """Our node id, the first part of each Sequence Number: 3 + area code + corp_id, as the
    carrier assigns it (3057112345)."""
    corp_id: str = ""
    """The SP's enterprise code (CorpId, 5 digits)."""
    channel_code: str = ""
    """Our access number is `source_prefix` + channel_code (SPNumber); the extension follows."""
    source_prefix: str = "106"
    service_type: str = ""
    """ServiceType, the service code agreed with the carrier (10 octets)."""
    fee_type: int = 1
    """FeeType: 1 free (the usual for notifications), 2 per message, 3 monthly, ..."""
    fee_value: str = "0"
    charge_number: str = "000000000000000000000"
    """Who pays: 21 zeros is the SP (the usual), "" the receiving user."""
    coding: Literal["auto", "gbk"] = "auto"
    """auto: ASCII when the text allows it, else UCS2; gbk: every text in GBK."""
    long_messages: Literal["udh8", "udh16"] = "udh8"
    window: int = 16
    max_per_second: float = 0.0
    max_binds: int = 0
    """Most binds the carrier allows this account across every dispatch process on the
    store (0: no limit): a process binds only while it holds one of the store's slots
    (`runtime/bind_slots.py`, docs/deployment.md)."""
    response_timeout: float = 10.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    throttle_backoff: float = 1.0
    listen_host: str = "0.0.0.0"
    listen_port: int = 8801
    """Where the gateway connects back to (0: any free port, for tests)."""
    listen_login_name: str = ""
    listen_password: str = ""
    """What the gateway's Bind (Login Type 2) must carry."""
    codes: CodeTable = field(default_factory=default_codes)
    retryable: frozenset[int] = RETRYABLE_RESULTS
    uplink_parts_timeout: float = 60.0
    """How long the parts of a long reply wait for the missing ones (the session core
    keeps them)."""


class SgipChannel(session.Session[Link, Ack]):
    submit_command = Command.SUBMIT
    logger = "yizhan.sgip"
    answer_name = "Submit_Resp"

    def __init__(self, config: SgipConfig, clock: Clock, slots: Slots | None = None) -> None:
        super().__init__(config, clock, slots)
        self.config = config
        self.sp_number = self._number = config.source_prefix + config.channel_code
        self.listener = SgipListener(
            Credentials(config.listen_login_name, config.listen_password), node=config.node,
            on_inbound=self._on_deliver, name=f"{config.name}:listener", wall=clock.now)
        self.listen_port = 0
        """The port the listener took (config.listen_port, or the one picked for 0)."""

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        c = self.config
        self.listen_port = await self.listener.start(c.listen_host, c.listen_port)
        await super().start(sink)

    async def stop(self) -> None:
        await super().stop()
        await self.listener.stop()

    async def _bind_links(self) -> str:
        c = self.config
        loop = asyncio.get_running_loop()
        _, link = await asyncio.wait_for(loop.create_connection(
            lambda: Link(self._on_request, node=c.node, name=self.name,
                         response_timeout=c.response_timeout, wall=self._clock.now),
            c.host, c.port), c.response_timeout)
        self._links.append(link)
        result = await bind(link, LoginType.SP_TO_SMG, c.login_name, c.password,
                            c.response_timeout)
        if result != Result.OK:
            raise BindRefused(f"Bind as {c.login_name!r} refused: {result_text(result)}")
        link.before_write = self._journal_leaving
        self._tx = link
        return "an SP (login type 1)"

    def _goodbye(self, link: Link) -> asyncio.Future[Any]:
        return link.request(Command.UNBIND, timeout=2.0)

    # ---- submitting ---------------------------------------------------------------------

    def _bodies(self, request: SubmitRequest) -> list[bytes]:
        """The encoded Submit bodies of a message: one, or one per part."""
        c = self.config
        text = request.content
        coding = MessageCoding.GBK if c.coding == "gbk" else format_for(text)
        dest = request.phone.removeprefix("+")
        wide = c.long_messages == "udh16"
        parts = contents(text, coding, self._reference(dest, wide=wide), wide=wide)
        udhi = int(len(parts) > 1)
        base = Submit(user_numbers=[dest], sp_number=request.source_addr
                      or self.sp_number + request.extension, charge_number=c.charge_number,
                      corp_id=c.corp_id, service_type=c.service_type, fee_type=c.fee_type,
                      fee_value=c.fee_value, given_value="0", message_coding=coding,
                      tp_udhi=udhi, report_flag=1)
        return [encode_body(dataclasses.replace(base, message_content=part)) for part in parts]

    def _read_answer(self, link: Link, response: bytes) -> str | SubmitResult:
        try:
            pdu = decode(response)
        except PduError as exc:
            self._log.warning("channel %s: %s", self.name, exc)
            return Ambiguous(f"channel {self.name}: unreadable Submit_Resp")
        if pdu.command is not Command.SUBMIT_RESP or not isinstance(pdu.body, Resp):
            return Ambiguous(f"channel {self.name}: {pdu.command.title} answered a Submit")
        result = pdu.body.result
        if result == Result.OK:
            self._accepted()
            # the gateway echoes the Submit's Sequence Number: it is the message's id
            return Sequence(*SEQUENCE.unpack_from(response, 8)).text
        name = result_text(result)
        if result == Result.NODE_BUSY:
            self._throttled()
            return Retryable(f"channel {self.name}: {name}", self.config.throttle_backoff)
        if result in self.config.retryable:
            return Retryable(f"channel {self.name}: {name}", self.config.throttle_backoff)
        return Rejected(f"SGIP:{result:03d}", f"channel {self.name} refused the submit: {name}")

    # ---- receiving ----------------------------------------------------------------------

    def _on_request(self, link: Link, pdu: Pdu) -> None:
        """Our connection's requests: the gateway's Unbind, or a Report or Deliver some
        gateways send over it instead of connecting back."""
        if pdu.command is Command.UNBIND:
            link.unbound = True
            link.respond(pdu)
            link.close()
        elif pdu.command in (Command.REPORT, Command.DELIVER):
            self._on_deliver(link, pdu)
        else:
            link.respond(pdu, Result.BAD_COMMAND_ID)

    def _event_of(self, link: Link, request: Any, now: datetime,
                  answers: list[Ack]) -> Receipt | Uplink | None:
        pdu: Pdu = request
        if isinstance(pdu.body, Report):
            answers.append((link, pdu))
            receipt = receipt_of(pdu.body, self.name, self.config.codes, now)
            if receipt is None:  # not final yet
                return None
            remote_id = self.parts.resolve(receipt.remote_id, receipt.code)
            if remote_id is None:  # a part of a long message that does not decide it
                return None
            return dataclasses.replace(receipt, remote_id=remote_id)
        deliver = pdu.body
        assert isinstance(deliver, Deliver)
        return self._offer_reply(ShortMessage(
            deliver.user_number, deliver.sp_number, deliver.message_content,
            esm_class=ESM_UDHI if deliver.tp_udhi else 0, data_coding=deliver.message_coding),
            (link, pdu), now, answers)

    def _part_text(self, part: ShortMessage) -> str:
        """A reply's text: MessageCoding rides in `data_coding` (binary reads as hex)."""
        try:
            return text_of(part.short_message, part.data_coding, part.esm_class & ESM_UDHI)
        except PduError:
            return part.short_message.hex()

    def _reply_phone(self, address: str) -> str:
        return handset_number(address) or address

    def _acknowledge(self, answers: list[Ack], stored: bool) -> None:
        """Answer the Reports and Delivers: NODE_BUSY when not stored (offered again)."""
        result = Result.OK if stored else Result.NODE_BUSY
        for link, pdu in answers:
            link.respond(pdu, result)
