"""The carrier simulator as a real SMPP 3.4 server (the SMSC side) on loopback.

It speaks the same codec as the ESME channel (`smpp_pdu`, `smpp_link`) and serves two uses:

- **Scripted by data** (`yizhan simulator`, benchmarks, the platform's e2e tests): every
  submit_sm is answered at once and its receipt follows after the delay the `Script`
  (docs/simulator.md) gives its number: delivered, a failure code (handset off -> EXPIRED,
  empty number -> MK:0001, blacklist, ...), rejected or throttled submits, a submit never
  answered (`hang`) or a dropped link (`drop`), duplicate receipts, a receipt ahead of its
  submit_sm_resp, a handset reply (uplink). `Script.keywords` intercepts content; `max_per_second`
  throttles the bind with ESME_RTHROTTLED. `submit_log` appends one JSON line per submit_sm
  received (source, destination, text), before it is answered: what reached the carrier,
  for tests that kill the platform (docs/simulator.md).
- **Step by step from tests** (`manual=True`): nothing is answered by itself; the test takes
  the next PDU with `expect`, answers it with `answer` (any status), and pushes `receipt`s and
  `uplink`s whose deliver_sm_resp it can await, or `drop`s the link.

Receipts are written as SMSCs write them: one per submit_sm (so one per part of a long
message), from the handset to the number the message came from, with the submit and done
dates (`Reported`). They wait in one timer heap, not a task each, and go to a receiver (or
transceiver) bind of the same system_id; while none is bound they are held, as an SMSC
stores them. A receipt the ESME does not acknowledge with ESME_ROK is offered again after
`RETRY_SECONDS`. A bind is checked against `accounts` (system_id -> password), as a
carrier checks it.

It must never be the benchmark's bottleneck, so the scripted path is lean: submit_sm_resp and
receipts are written from pre-encoded parts (`SubmitTemplate`), and a receipt is its own
`Waiter` for the deliver_sm_resp (no future or callback per receipt). docs/benchmarks.md has
its CPU per message.

It stands for the world outside the platform, so its delays and dates run on the real clock
(the event loop's and `time.time`), never on the platform's injected `Clock`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

import orjson

from yizhan.dispatch.channels.simulator import REAL_NAME_CODE, Outcome, Script, sign_name_of
from yizhan.dispatch.channels.smpp_link import Link, LinkClosed
from yizhan.dispatch.channels.smpp_pdu import (
    BINDS,
    ESM_RECEIPT,
    ESM_UDHI,
    Bind,
    BindResp,
    Command,
    MessageIdResp,
    MessageState,
    Pdu,
    PduError,
    ShortMessage,
    Status,
    SubmitTemplate,
    Tag,
    decode_short_message,
    encode_body,
    parse_status,
    peek_addresses,
    peek_text,
    text_of,
    tlv_int,
)
from yizhan.dispatch.channels.smpp_receipts import DELIVERED, receipt_text
from yizhan.domain import segments
from yizhan.domain.ports import CarrierRecords
from yizhan.simulator import submits
from yizhan.simulator.deliveries import RETRY_SECONDS, Awaited, Deliveries, SecondLimit

log = logging.getLogger("yizhan.smsc")

RECEIVERS = frozenset({Command.BIND_RECEIVER, Command.BIND_TRANSCEIVER})
SENDERS = frozenset({Command.BIND_TRANSMITTER, Command.BIND_TRANSCEIVER})
RAW_REQUESTS = frozenset({Command.SUBMIT_SM})
"""submit_sm reach the server undecoded: a scripted submit reads only its destination."""
STATES = {"DELIVRD": MessageState.DELIVERED, "EXPIRED": MessageState.EXPIRED,
          "UNDELIV": MessageState.UNDELIVERABLE, "REJECTD": MessageState.REJECTED,
          "UNKNOWN": MessageState.UNKNOWN}
_RECEIPTED_ID = struct.Struct(">HH")
_STATE_TLVS = {code: _RECEIPTED_ID.pack(Tag.MESSAGE_STATE, 1) + bytes((state,))
               for code, state in STATES.items()}
"""The encoded message_state TLV of a receipt code (any other code: undeliverable)."""


class Incoming(submits.Incoming[Link, Pdu, ShortMessage]):
    """A submit_sm the manual simulator received and has not answered yet; `message` is
    its short message (`submit`)."""

    __slots__ = ()

    @property
    def message(self) -> ShortMessage:
        return self.submit


class _Due(Awaited[bytes]):
    """An encoded deliver_sm body to send to the binds of system_id `to` when due, and the
    `Waiter` of its deliver_sm_resp: only the status in its header counts."""

    __slots__ = ()
    STATUS = slice(8, 12)


class SmscServer:
    def __init__(self, script: Script | None = None, *, system_id: str = "",
                 password: str = "", manual: bool = False, max_per_second: float = 0.0,
                 receipt_ids: Literal["same", "decimal", "padded"] = "same",
                 accounts: Mapping[str, str] | None = None,
                 submit_log: Path | None = None, records: CarrierRecords | None = None,
                 enforcing: Collection[str] = (), max_binds: int = 0,
                 bind_log: Path | None = None) -> None:
        self.script = script or Script()
        self.records = records
        self.enforcing = frozenset(enforcing) if records is not None else frozenset()
        """system_ids of the binds whose carrier requires real-name registration: a
        submit whose signature `records` does not know on its source number (the
        sub-port) is accepted and its receipt fails with `REAL_NAME_CODE`."""
        self.accounts = dict(accounts or ({system_id: password} if system_id else {}))
        """system_id -> password of every ESME allowed to bind (empty: any system_id, and
        `password` if one is given): a bind with another system_id is refused with
        ESME_RINVSYSID, one with a wrong password with ESME_RINVPASWD."""
        self.submit_log = submit_log
        self._log_fd = -1
        self.max_binds = max_binds
        """Most binds at once of one system_id, as a carrier allows an account (0: any);
        one more is refused with ESME_RBINDFAIL."""
        self.bind_log = bind_log
        """Appends one JSON line per bind, refused bind and closed bound link, with the
        binds of its system_id then (`binds`): what the tests of the bind limit read."""
        self._bind_fd = -1
        self.manual = manual
        self.max_per_second = max_per_second
        self.receipt_ids = receipt_ids
        self.system_id = system_id
        self.password = password
        self.links: list[Link] = []
        self.inbox: asyncio.Queue[Incoming] = asyncio.Queue()
        self.submitted = 0
        """submit_sm answered ESME_ROK (the benchmark's count)."""
        self.receipts_acked = 0
        self.unbinds = 0
        self.bound = asyncio.Event()
        self._ids = itertools.count(0x10000)
        self._seq = itertools.count()
        self._deliveries: Deliveries[_Due] = Deliveries(self._send_receipt)
        self.holding = self._deliveries.holding
        """Set when a receipt or reply found no bound receiver and waits for the next bind."""
        self._server: asyncio.Server | None = None
        self._limit = SecondLimit()
        self._receipt_template = SubmitTemplate(source_ton=1, source_npi=1, dest_npi=1)
        """A receipt's deliver_sm: from the handset (international number) to the number the
        message was sent from, as an SMSC writes it."""
        self._receipt_tails: dict[tuple[str, str, str, str], bytes] = {}
        self._reported: OrderedDict[str, Reported] = OrderedDict()
        """Manual mode: what each answered submit's receipt says besides its id."""
        self._last_receiver: Link | None = None

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port (0 picks a free one)."""
        loop = asyncio.get_running_loop()
        if self.submit_log is not None:
            self._log_fd = os.open(self.submit_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                   0o600)
        if self.bind_log is not None:
            self._bind_fd = os.open(self.bind_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                    0o600)
        self._server = await loop.create_server(
            lambda: Link(self._on_request, name="smsc", keepalive=0,
                         raw_requests=RAW_REQUESTS), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._deliveries.cancel()
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._log_fd >= 0:
            os.close(self._log_fd)
            self._log_fd = -1
        if self._bind_fd >= 0:
            os.close(self._bind_fd)
            self._bind_fd = -1

    # ---- step by step (manual=True) -----------------------------------------------------

    async def expect(self, command: Command = Command.SUBMIT_SM,
                     timeout: float = 5.0) -> Incoming:
        """The next request received; fails if it is not `command` or none comes in time."""
        incoming = await asyncio.wait_for(self.inbox.get(), timeout)
        if incoming.pdu.command is not command:
            raise AssertionError(f"expected {command.name}, got {incoming.pdu.command.name}")
        return incoming

    def answer(self, incoming: Incoming, status: int = Status.ROK,
               message_id: str | None = None) -> str:
        """Answer a submit_sm; returns the message id given (empty for an error status)."""
        if status != Status.ROK:
            incoming.link.respond(incoming.pdu, status)
            return ""
        remote_id = message_id if message_id is not None else self._next_id()
        incoming.link.respond(incoming.pdu, status, MessageIdResp(remote_id))
        self._reported[remote_id] = reported_for(incoming.message)
        if len(self._reported) > 10_000:
            self._reported.popitem(last=False)
        return remote_id

    async def receipt(self, message_id: str, code: str = DELIVERED, *, err: str = "000",
                      tlvs: bool = True, link: Link | None = None,
                      of: Incoming | None = None) -> Pdu:
        """Send a delivery receipt; returns the ESME's deliver_sm_resp when it comes. Its
        addresses and submit date are those of the submit it reports on: the one answered
        with `message_id`, or `of` (a submit left unanswered)."""
        reported = reported_for(of.message) if of is not None else \
            self._reported.get(message_id, Reported())
        return await self._deliver(self._receipt_body(message_id, code, err, tlvs, reported),
                                   link)

    async def uplink(self, phone: str, dest: str, text: str, link: Link | None = None) -> Pdu:
        """A handset's reply to `dest` (106 + channel + extension); returns the answer."""
        return await self._deliver(_uplink_body(phone, dest, text), link)

    async def deliver(self, body: ShortMessage, link: Link | None = None) -> Pdu:
        """Send any deliver_sm (e.g. one of `uplink_parts`); returns the ESME's answer."""
        return await self._deliver(body, link)

    def drop(self) -> None:
        """Cut every link without unbind, as a failing network does."""
        for link in self.links:
            link.abort()

    async def _deliver(self, body: ShortMessage | bytes, link: Link | None) -> Pdu:
        target = link or self._receiver("")
        if target is None:
            raise LinkClosed("no receiver is bound")
        return await target.request(Command.DELIVER_SM, body)

    # ---- requests -----------------------------------------------------------------------

    def _on_request(self, link: Link, pdu: Pdu) -> None:
        command = pdu.command
        if command in BINDS:
            self._bind(link, pdu)
        elif command is Command.UNBIND:
            self.unbinds += 1
            link.respond(pdu)
            link.close()
        elif command is Command.SUBMIT_SM:
            body = pdu.body
            assert isinstance(body, bytes)  # submit_sm arrive undecoded (RAW_REQUESTS)
            if link.bound_as not in SENDERS:
                link.respond(pdu, Status.RINVBNDSTS)
                return
            try:
                if self._log_fd >= 0:
                    self._log_submit(body)
                if self.manual:
                    sm = decode_short_message(body)
                    decoded = Pdu(command, pdu.sequence, pdu.status, sm)
                    self.inbox.put_nowait(Incoming(link, decoded, sm, text_of))
                else:
                    self._submit(link, pdu.sequence, body)
            except PduError as exc:
                log.warning("smsc: %s", exc)
                link.write(Command.GENERIC_NACK, pdu.sequence, exc.status, b"")
        else:
            link.send(Pdu(Command.GENERIC_NACK, pdu.sequence, Status.RINVCMDID))

    def _log_submit(self, body: bytes) -> None:
        """One line per submit_sm received, written at once (unbuffered: the log is read
        while the simulator runs)."""
        sm = decode_short_message(body)
        os.write(self._log_fd, orjson.dumps({
            "at": time.time(), "source": sm.source_addr, "destination": sm.destination_addr,
            "text": text_of(sm)}) + b"\n")

    def _bind(self, link: Link, pdu: Pdu) -> None:
        bind = pdu.body
        assert isinstance(bind, Bind)
        if link.bound_as is not None:
            link.respond(pdu, Status.RALYBND)
            return
        refusal = self._refusal(bind)
        if refusal is not None:
            log.info("smsc: bind as %r refused: %s", bind.system_id,
                     "unknown system_id" if refusal == Status.RINVSYSID else "wrong password")
            link.respond(pdu, refusal)
            return
        if self.max_binds and self._binds_of(bind.system_id) >= self.max_binds:
            log.info("smsc: bind as %r refused: %d binds already", bind.system_id,
                     self.max_binds)
            self._log_bind("refused", bind.system_id)
            link.respond(pdu, Status.RBINDFAIL)
            return
        link.bound_as = pdu.command
        link.system_id = bind.system_id
        link.closed.add_done_callback(lambda _: self._forget(link))
        self.links.append(link)
        self._log_bind("bind", bind.system_id)
        link.respond(pdu, body=BindResp("yizhan-sim"))
        self.bound.set()
        if pdu.command in RECEIVERS:
            self._deliveries.release()

    def _refusal(self, bind: Bind) -> int | None:
        """The status refusing this bind's credentials, or None to accept them."""
        if self.accounts:
            expected = self.accounts.get(bind.system_id)
            if expected is None:
                return Status.RINVSYSID
            return None if bind.password == expected else Status.RINVPASWD
        if self.password and bind.password != self.password:
            return Status.RINVPASWD
        return None

    def _binds_of(self, system_id: str) -> int:
        return sum(link.system_id == system_id for link in self.links)

    def _log_bind(self, event: str, system_id: str) -> None:
        if self._bind_fd >= 0:
            os.write(self._bind_fd, orjson.dumps({
                "at": time.time(), "event": event, "system_id": system_id,
                "binds": self._binds_of(system_id)}) + b"\n")

    def _forget(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)
            self._log_bind("closed", link.system_id)

    def _submit(self, link: Link, sequence: int, body: bytes) -> None:
        """Answer a submit_sm as the script says. Its body comes undecoded: the destination
        is all most submits need; keywords and uplinks decode the whole message."""
        if self.max_per_second and self._limit.over(self.max_per_second):
            link.write(Command.SUBMIT_SM_RESP, sequence, Status.RTHROTTLED, b"")
            return
        script = self.script
        # read even when unscripted: a malformed one is nacked
        source, dest = peek_addresses(body)
        outcome = script.outcome(submits.e164(dest)) if script.numbers else script.default
        sm = decode_short_message(body) if script.keywords or outcome.uplink else None
        if outcome.submit != "accept" and submits.refused(
                outcome.submit, link,
                lambda status: link.write(Command.SUBMIT_SM_RESP, sequence, status, b""),
                throttled=Status.RTHROTTLED, rejected=_status):
            return
        remote_id = self._next_id()
        code = (self._intercepted(sm) if sm is not None else "") or outcome.code
        if link.system_id in self.enforcing:  # the carrier's real-name check
            assert self.records is not None
            text = text_of(sm) if sm is not None else peek_text(body)
            if not self.records.registered(source, sign_name_of(text)):
                code = REAL_NAME_CODE
        now = time.time()
        reported = Reported(dest, source, stamp(now), stamp(now + outcome.delay))
        if outcome.receipt_first:
            self._send_receipt(self._due(0, link.system_id, self._receipt_body(
                remote_id, code, "000", True, reported)))
        link.write(Command.SUBMIT_SM_RESP, sequence, Status.ROK,
                   remote_id.encode("latin-1") + b"\0")
        self.submitted += 1
        self._follow_up(link.system_id, remote_id, code, sm, outcome, reported)

    def _follow_up(self, system_id: str, remote_id: str, code: str, sm: ShortMessage | None,
                   outcome: Outcome, reported: Reported) -> None:
        count = 0 if outcome.receipt_first else outcome.receipts
        delay = outcome.delay
        due = asyncio.get_running_loop().time() + delay if delay or outcome.uplink else 0.0
        body = self._receipt_body(remote_id, code, "000", True, reported) if count else b""
        for _ in range(count):
            item = self._due(due, system_id, body)
            if delay:
                self._deliveries.schedule(item)
            else:  # due now: straight behind the submit_sm_resp, no timer
                self._send_receipt(item)
        if outcome.uplink:  # a long reply goes in parts, as a handset's SMSC sends it
            assert sm is not None  # decoded by _submit for its uplink
            for part in uplink_parts(sm.destination_addr, sm.source_addr, outcome.uplink,
                                     reference=next(self._seq) & 0xFF):
                self._deliveries.schedule(self._due(due, system_id, encode_body(part)))

    def _due(self, due: float, system_id: str, body: bytes) -> _Due:
        # positional: a keyword costs 60 ns per receipt
        return _Due(due, next(self._seq), system_id, body, 0, self)  # 0 offers so far

    def _intercepted(self, sm: ShortMessage) -> str:
        if not self.script.keywords:
            return ""
        content = text_of(sm)
        return next((code for word, code in self.script.keywords.items() if word in content), "")

    def _next_id(self) -> str:
        return f"{next(self._ids):X}"

    # ---- receipts -----------------------------------------------------------------------

    def _receipt_body(self, remote_id: str, code: str, err: str, tlvs: bool,
                      reported: Reported | None = None) -> bytes:
        """An encoded deliver_sm body carrying the standard receipt (and its TLVs), from the
        handset to the sender, with the submit's and the delivery's dates."""
        reported = reported or Reported()
        written = remote_id
        if self.receipt_ids == "decimal":
            written = str(int(remote_id, 16))
        elif self.receipt_ids == "padded":
            written = remote_id.lower().rjust(16, "0")
        # receipt_text(id, ...) is "id:" + id + a tail that depends on the code, err and
        # dates only: the tail is encoded once per combination (a script has a handful of
        # codes, and the dates change once a minute)
        key = (code, err, reported.submitted, reported.done)
        tail = self._receipt_tails.get(key)
        if tail is None:
            if len(self._receipt_tails) > 1000:
                self._receipt_tails.clear()
            tail = receipt_text("", code, err=err, submitted=reported.submitted,
                                done=reported.done)[3:].encode("latin-1")
            self._receipt_tails[key] = tail
        written_id = written.encode("latin-1")
        body = self._receipt_template.body(reported.handset, reported.sender,
                                           b"".join((b"id:", written_id, tail)), 0, ESM_RECEIPT)
        if not tlvs:
            return body
        return b"".join((body, _RECEIPTED_ID.pack(Tag.RECEIPTED_MESSAGE_ID, len(written_id) + 1),
                         written_id, b"\0", _STATE_TLVS.get(code, _STATE_TLVS["UNDELIV"])))

    def _send_receipt(self, item: _Due) -> None:
        link = self._receiver(item.to)
        if link is None:
            self._deliveries.hold(item)
            return
        link.request_raw_to(item, Command.DELIVER_SM, item.body)

    def acknowledged(self, item: _Due, status: int | None) -> None:
        """The ESME's answer to a deliver_sm (None: none came, or the link dropped)."""
        if status == Status.ROK:
            self.receipts_acked += 1
            return
        self._deliveries.refused(item, RETRY_SECONDS)

    def _receiver(self, system_id: str) -> Link | None:
        last = self._last_receiver  # the hot path: the same bind as the previous receipt
        if (last is not None and last.transport is not None and last.system_id == system_id
                and not last.transport.is_closing()):
            return last
        for link in self.links:
            if (link.bound_as in RECEIVERS and link.is_open
                    and (not system_id or link.system_id == system_id)):
                self._last_receiver = link
                return link
        return None


class Reported(NamedTuple):
    """What a receipt says about its submit besides the id: the addresses swapped (the
    receipt comes from the handset, to the number the message was sent from) and the dates
    (`stamp`)."""

    handset: str = ""
    sender: str = ""
    submitted: str = ""
    done: str = ""


def reported_for(submit: ShortMessage) -> Reported:
    """A receipt's addresses and dates for a submit delivered now (the manual simulator)."""
    now = stamp(time.time())
    return Reported(submit.destination_addr, submit.source_addr, now, now)


def stamp(at: float) -> str:
    """A receipt date as SMSCs write it: YYMMDDhhmm (the simulator's is in UTC)."""
    return _minute_stamp(int(at // 60))


@lru_cache(maxsize=16)
def _minute_stamp(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%y%m%d%H%M")


def _uplink_body(phone: str, dest: str, text: str) -> ShortMessage:
    enc = segments.encoding_of(text)
    return ShortMessage(source_addr=phone, destination_addr=dest,
                        short_message=segments.encode(text, enc), source_addr_ton=1,
                        source_addr_npi=1, data_coding=8 if enc is segments.Encoding.UCS2 else 0)


def uplink_parts(phone: str, dest: str, text: str, *, mode: str = "udh8",
                 reference: int = 1) -> list[ShortMessage]:
    """A handset's reply as the deliver_sm an SMSC sends: one when it fits, else one per
    part, marked by a UDH with an 8- or 16-bit reference (`udh8`, `udh16`) or SAR TLVs."""
    parts = segments.split(text, wide_reference=mode == "udh16")
    if len(parts) == 1:
        return [_uplink_body(phone, dest, text)]
    enc = segments.encoding_of(text)
    bodies = []
    for number, part in enumerate(parts, 1):
        body = _uplink_body(phone, dest, part)
        body.data_coding = 8 if enc is segments.Encoding.UCS2 else 0
        body.short_message = segments.encode(part, enc)
        if mode == "sar":
            body.tlvs = {Tag.SAR_MSG_REF_NUM: tlv_int(reference, 2),
                         Tag.SAR_TOTAL_SEGMENTS: tlv_int(len(parts), 1),
                         Tag.SAR_SEGMENT_SEQNUM: tlv_int(number, 1)}
        else:
            body.esm_class = ESM_UDHI
            body.short_message = segments.udh(reference, len(parts), number,
                                              wide=mode == "udh16") + body.short_message
        bodies.append(body)
    return bodies


def _status(detail: str) -> int:
    """`reject:ESME_RINVDSTADR`, `reject:0x0B` or `reject:11` -> that status; a carrier code
    (`reject:MK:0001`) has no SMPP status: ESME_RSUBMITFAIL."""
    try:
        return parse_status(detail)
    except ValueError:
        return Status.RSUBMITFAIL
