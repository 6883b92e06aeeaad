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

The bind is kept by one task: connect, bind (transceiver, or transmitter + receiver), wait
for the link to drop, reconnect after a jittered exponential back-off; a link ended by an
unbind is a clean close (the carrier's: bind again; ours, at stop: done). Submits share a window
of `window` in-flight submit_sm; `ESME_RTHROTTLED` / `ESME_RMSGQFUL` halve it and pause
submits for `throttle_backoff` seconds, and each window's worth of accepted submits grows it
back by one. `max_per_second` paces submit_sm (0: no limit). Long messages leave as parts
with a UDH (8- or 16-bit reference, rotating per destination), SAR TLVs, or as one
submit_sm with message_payload (`long_messages`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from yizhan.dispatch.channels.smpp_link import Link, LinkClosed
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
    PartGroups,
    handset_number,
    read_receipt,
    submitted_at,
)
from yizhan.dispatch.channels.smpp_uplinks import Reply, UplinkParts
from yizhan.domain import segments
from yizhan.domain.codes import PLATFORM, CodeTable
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import (
    Accepted,
    Ambiguous,
    Clock,
    EventSink,
    Rejected,
    Retryable,
    SendJournal,
    SubmitRequest,
    SubmitResult,
)
from yizhan.runtime.pausing import pause

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
PART_RETRIES = 5
"""Throttled later parts of a long message are retried here (its first part is already out,
so the whole message cannot go back to the outbox)."""


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


class _Window:
    """At most `limit` holders; `limit` shrinks on throttling and grows back to `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.limit = size
        self.used = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._credit = 0

    @property
    def waiting(self) -> bool:
        return bool(self._waiters)

    async def acquire(self) -> None:
        if self.used < self.limit and not self._waiters:
            self.used += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # woken and cancelled at once: pass the slot on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.used -= 1
        self._wake()

    def shrink(self) -> None:
        self.limit = max(1, self.limit // 2)
        self._credit = 0

    def succeeded(self) -> None:
        if self.limit < self.size:
            self._credit += 1
            if self._credit >= self.limit:
                self._credit = 0
                self.limit += 1
                self._wake()

    def _wake(self) -> None:
        while self._waiters and self.used < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.used += 1
                waiter.set_result(None)


class Slots(Protocol):
    """The channel's share of its bind limit (`runtime/bind_slots.BindSlots`)."""

    async def take(self) -> bool: ...
    async def keep(self) -> bool: ...
    async def give_back(self) -> None: ...


SLOT_RETRY_SECONDS = 1.0
"""How often a channel without a bind slot looks for a free one."""
SLOT_RENEW_SECONDS = 10.0
"""How often a bound channel renews its slot (well within the slot's 30 s lease)."""


class SmppChannel:
    journals_sends = True
    """Journals each submit as its submit_sm is handed to the transport (`_journal_leaving`)."""

    def __init__(self, config: SmppConfig, clock: Clock, slots: Slots | None = None) -> None:
        self.name = config.name
        self.config = config
        self.slots = slots
        """The store's bind slots of this channel when `max_binds` limits it (None: none)."""
        self.bound = asyncio.Event()
        """Set while a bind able to submit is up (tests and the benchmark wait on it)."""
        self.binds = 0
        """How many binds succeeded since start (a reconnect adds one)."""
        self.parts = PartGroups()
        self._clock = clock
        self._sink: EventSink | None = None
        self._tx: Link | None = None
        self._links: list[Link] = []
        self._window = _Window(config.window)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._paused_until = 0.0
        self._next_slot = 0.0
        self._refs: dict[str, int] = {}
        self._inbox: list[tuple[Link, Pdu]] = []
        self._inbox_ready = asyncio.Event()
        self._deliverer: asyncio.Task[None] | None = None
        self._template = SubmitTemplate(
            source_ton=config.source_ton, source_npi=config.source_npi,
            dest_ton=config.dest_ton, dest_npi=config.dest_npi,
            registered_delivery=config.registered_delivery)
        self._source = f"{config.source_prefix}{config.channel_code}"
        self._uplinks: UplinkParts[tuple[Link, int]] = UplinkParts(config.uplink_parts_timeout)
        self._expiry: asyncio.Task[None] | None = None
        self.waiting_slot = False
        """Unbound because other dispatchers hold every bind slot (`max_binds`)."""
        self._leaving: dict[SendJournal, list[int]] = {}
        """Messages whose submit_sm is queued on a link, by the journal of the dispatch
        worker that submits them (the main and the express worker each keep one):
        journaled as the link writes."""

    # ---- lifecycle ----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.bound.is_set()

    async def wait_ready(self) -> None:
        await self.bound.wait()

    @property
    def window_use(self) -> tuple[int, int, int]:
        """Submits in flight, the window's limit now (throttling halves it), its size."""
        return self._window.used, self._window.limit, self._window.size

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._keep_bound(), name=f"{self.name}:bind")
        self._deliverer = asyncio.create_task(self._deliver_loop(), name=f"{self.name}:deliver")

    async def stop(self) -> None:
        """Unbind gracefully (waiting briefly for unbind_resp), then close."""
        self._stopping.set()
        for link in list(self._links):
            link.unbound = True
            if link.is_open and link.bound_as is not None:
                with contextlib.suppress(TimeoutError, LinkClosed):
                    await asyncio.wait_for(link.request(Command.UNBIND, timeout=2.0), 2.0)
            link.close()
        for task in (self._task, self._deliverer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._deliverer = None
        if self.slots is not None:  # unbound: another dispatcher may bind at once
            try:
                await self.slots.give_back()
            except Exception:  # the store is down: the slot's lease expires by itself
                log.exception("channel %s: could not give its bind slot back", self.name)
        if self._expiry is not None:
            self._expiry.cancel()
        self.bound.clear()

    async def _keep_bound(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            if not await self._take_slot():
                await pause(self._clock, SLOT_RETRY_SECONDS, self._stopping)
                continue
            try:
                await self._bind()
                attempt = 0
                await self._hold([link.closed for link in self._links])
                # A split bind's first link closes while `stop` still unbinds the second:
                # that is our own shutdown, not a lost link, and nothing binds again.
                if self._stopping.is_set():
                    log.info("channel %s: unbound", self.name)
                    return
                if any(link.unbound for link in self._links):
                    log.info("channel %s: the carrier unbound cleanly; binding again",
                             self.name)
                else:
                    log.warning("channel %s: link lost; reconnecting", self.name)
            except (OSError, TimeoutError, LinkClosed, BindRefused) as exc:
                log.warning("channel %s: cannot bind to %s:%d: %s", self.name,
                            self.config.host, self.config.port, exc)
            finally:
                self.bound.clear()
                self._tx = None
                for link in self._links:
                    link.close()
                self._links = []
                await self._give_slot_back()
            delay = min(self.config.reconnect_max, self.config.reconnect_min * 2 ** attempt)
            attempt += 1
            await pause(self._clock, delay * random.uniform(0.5, 1.0), self._stopping)

    async def _take_slot(self) -> bool:
        """Hold a bind slot before binding (True at once without a limit)."""
        if self.slots is None:
            return True
        try:
            taken = await self.slots.take()
        except Exception:  # the store is down: no slot, try again
            log.exception("channel %s: could not read its bind slots", self.name)
            return False
        if not taken and not self.waiting_slot:
            log.info("channel %s: all %d bind(s) the carrier allows are held by other "
                     "dispatchers; waiting for one", self.name, self.config.max_binds)
        self.waiting_slot = not taken
        return taken

    async def _hold(self, closed: Sequence[asyncio.Future[None]]) -> None:
        """Wait until a link closes, renewing the bind slot meanwhile; a slot taken over
        by another dispatcher (this one could not renew it in time) ends the bind."""
        if self.slots is None:
            await asyncio.wait(closed, return_when=asyncio.FIRST_COMPLETED)
            return
        renewing = asyncio.create_task(self._renew_slot(self.slots), name=f"{self.name}:slot")
        try:
            await asyncio.wait([*closed, renewing], return_when=asyncio.FIRST_COMPLETED)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew_slot(self, slots: Slots) -> None:
        """Renew the slot every `SLOT_RENEW_SECONDS`; return once it was taken over."""
        while True:
            await self._clock.sleep(SLOT_RENEW_SECONDS)
            try:
                if not await slots.keep():
                    return
            except Exception:  # the store is down: keep the bind, renew at the next turn
                log.exception("channel %s: could not renew its bind slot", self.name)

    async def _give_slot_back(self) -> None:
        if self.slots is None or self._stopping.is_set():  # (`stop` gives it back)
            return
        try:
            await self.slots.give_back()
        except Exception:
            log.exception("channel %s: could not give its bind slot back", self.name)

    async def _bind(self) -> None:
        if self.config.bind == "transceiver":
            commands = [Command.BIND_TRANSCEIVER]
        else:
            commands = [Command.BIND_TRANSMITTER, Command.BIND_RECEIVER]
        for command in commands:
            link = await self._open(command)
            self._links.append(link)
            if command is not Command.BIND_RECEIVER:
                self._tx = link
        self.binds += 1
        self.bound.set()
        log.info("channel %s: bound to %s:%d as %s", self.name, self.config.host,
                 self.config.port, self.config.bind)

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

    # ---- submitting ---------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        if self._tx is None:
            return Retryable(f"channel {self.name} is not bound", self.config.reconnect_min)
        bodies = self._bodies(request)
        if len(bodies) == 1:  # the common case
            result = await self._submit_part(bodies[0], request)
            return Accepted(result) if isinstance(result, str) else result
        ids: list[str] = []
        for number, body in enumerate(bodies):
            result = await self._submit_part(body, request)
            tries = 0
            while number and isinstance(result, Retryable) and tries < PART_RETRIES:
                tries += 1
                await self._clock.sleep(result.after)
                result = await self._submit_part(body, request)
            if isinstance(result, str):
                ids.append(result)
                continue
            if number == 0:
                return result
            return self._later_part_failed(number, len(bodies), result)
        self.parts.add(ids)
        return Accepted(ids[0])

    def _journal_leaving(self) -> None:
        """A link is about to write: journal the submits queued since the last write. (A
        link that never writes them, dropped first, journals nothing: they did not leave.
        Any link's write journals all of them, which errs on the safe side.)"""
        if self._leaving:
            leaving, self._leaving = self._leaving, {}
            for journal, message_ids in leaving.items():
                journal.leaving(message_ids)

    def _later_part_failed(self, number: int, total: int, result: SubmitResult) -> SubmitResult:
        where = f"part {number + 1} of {total} (earlier parts were accepted)"
        if isinstance(result, Rejected):
            return Rejected(result.code, f"{where}: {result.reason}")
        reason = result.reason if isinstance(result, Retryable | Ambiguous) else "failed"
        return Ambiguous(f"{where}: {reason}")

    async def _submit_part(self, body: bytes, request: SubmitRequest) -> str | SubmitResult:
        """The canonical remote id of an accepted submit_sm, else the result to report.

        The message is journaled (`dispatch/journal.py`) when the link hands its queued
        submit_sm to the transport (`_journal_leaving`, one write for all the submits of an
        event-loop step), so after any wait for window space or pacing: a crash before
        that leaves it unjournaled, and it is submitted after the restart. A crash between
        the journal's write and the transport's leaves a journaled message that never left
        (unknown, conservatively); the other way round cannot happen."""
        window = self._window
        if window.used < window.limit and not window.waiting:  # a free slot: no await
            window.used += 1
        else:
            await window.acquire()
        try:
            if self._paused_until or self.config.max_per_second:
                await self._pace()
            link = self._tx
            if link is None or link.transport is None or link.transport.is_closing():
                return Retryable(f"channel {self.name} is not bound", self.config.reconnect_min)
            if request.journal is not None:
                self._leaving.setdefault(request.journal, []).append(request.message_id)
            try:
                response = await link.request_raw(Command.SUBMIT_SM, body)
            except TimeoutError:
                return Ambiguous(f"channel {self.name}: no submit_sm_resp within "
                                 f"{self.config.response_timeout:g}s")
            except LinkClosed:
                return Ambiguous(f"channel {self.name}: link lost before submit_sm_resp")
        finally:
            window.release()
        # the response undecoded: its header, then the message id (a C-octet string)
        command_id, status = _COMMAND_STATUS.unpack_from(response, 4)
        if status == Status.ROK and command_id == Command.SUBMIT_SM_RESP:
            end = response.find(0, 16)
            if end < 0 and len(response) > 16:
                return self._malformed(link, response)
            if window.limit < window.size:
                window.succeeded()
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

    def _throttled(self) -> None:
        self._window.shrink()
        self._paused_until = self._clock.monotonic() + self.config.throttle_backoff
        log.warning("channel %s: throttled by the carrier; window %d, pausing %gs", self.name,
                    self._window.limit, self.config.throttle_backoff)

    async def _pace(self) -> None:
        """Wait out a throttle pause and the per-second limit, if any (on the clock)."""
        now = self._clock.monotonic()
        wait = self._paused_until - now
        if wait <= 0:
            self._paused_until = 0.0  # the pause is over: the hot path skips _pace again
        if self.config.max_per_second:
            slot = max(now, self._next_slot, self._paused_until)
            self._next_slot = slot + 1.0 / self.config.max_per_second
            wait = slot - now
        if wait > 0:
            await self._clock.sleep(wait)

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

    def _reference(self, dest: str, *, wide: bool) -> int:
        """The next concatenation reference for this destination (rotating, random start)."""
        modulo = 0x10000 if wide else 0x100
        if len(self._refs) > 100_000:
            self._refs.clear()
        ref = (self._refs.get(dest, random.randrange(modulo)) + 1) % modulo
        self._refs[dest] = ref
        return ref

    # ---- receiving ----------------------------------------------------------------------

    def _on_request(self, link: Link, pdu: Pdu) -> None:
        if pdu.command is Command.DELIVER_SM:
            self._inbox.append((link, pdu))
            self._inbox_ready.set()
        elif pdu.command is Command.UNBIND:
            link.unbound = True
            link.respond(pdu)
            link.close()
        else:
            link.send(Pdu(Command.GENERIC_NACK, pdu.sequence, Status.RINVCMDID))

    async def _deliver_loop(self) -> None:
        """Hand every deliver_sm that arrived meanwhile to the sink in one call; answer them
        once it returns (stored), or with ESME_RX_T_APPN when it failed. The parts of a long
        uplink are answered when the whole reply is stored (`smpp_uplinks`)."""
        while True:
            await self._inbox_ready.wait()
            self._inbox_ready.clear()
            batch, self._inbox = self._inbox, []
            events: list[Receipt | Uplink] = []
            answers: list[tuple[Link, int]] = []
            now = self._clock.now()
            for link, pdu in batch:
                assert isinstance(pdu.body, bytes)  # deliver_sm arrive undecoded
                try:
                    event = self._event_of(pdu.body, now, (link, pdu.sequence), answers)
                except PduError as exc:
                    log.warning("channel %s: %s", self.name, exc)
                    link.write(Command.GENERIC_NACK, pdu.sequence, Status.RINVCMDLEN, b"")
                    continue
                if event is not None:
                    events.append(event)
            if len(self._uplinks):
                for reply in self._uplinks.expired(self._clock.monotonic()):
                    events.append(self._uplink(reply, now, answers))
                self._wake_for_expiry()
            status = Status.ROK
            if events:
                try:
                    await self._store(events)
                except Exception:
                    log.exception("channel %s: %d events not stored; the SMSC will offer "
                                  "them again", self.name, len(events))
                    status = Status.RX_T_APPN
            for link, sequence in answers:
                link.write(Command.DELIVER_SM_RESP, sequence, status, b"\0")

    def _wake_for_expiry(self) -> None:
        """Run the deliver loop again when the oldest incomplete uplink's time is up (on the
        clock's monotonic time)."""
        if self._expiry is not None:
            self._expiry.cancel()
        due = self._uplinks.next_expiry()
        self._expiry = None if due is None else asyncio.create_task(self._wake_at(due))

    async def _wake_at(self, due: float) -> None:
        await self._clock.sleep(due - self._clock.monotonic())
        self._inbox_ready.set()

    async def _store(self, events: Sequence[Receipt | Uplink]) -> None:
        sink = self._sink
        assert sink is not None
        await sink.many(events)

    def _event_of(self, body: bytes, now: datetime, ack: tuple[Link, int],
                  answers: list[tuple[Link, int]]) -> Receipt | Uplink | None:
        """The event an encoded deliver_sm body carries (None: nothing to report yet). Adds
        the answers it releases to `answers` (none for a part of an incomplete uplink)."""
        esm_class, short_message, tlv_id, state = peek_receipt(body)
        if esm_class & 0x3C != ESM_RECEIPT:
            reply = self._uplinks.offer(decode_short_message(body), ack,
                                        self._clock.monotonic())
            if reply is None:
                self._wake_for_expiry()
                return None
            return self._uplink(reply, now, answers)
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

    def _uplink(self, reply: Reply[tuple[Link, int]], now: datetime,
                answers: list[tuple[Link, int]]) -> Uplink:
        """The reply as an uplink; the extension is what follows this channel's number
        (106 + channel code) in the number it was sent to: it names account and signature."""
        answers.extend(reply.acks)
        base = self._source
        extension = reply.dest[len(base):] if reply.dest.startswith(base) else ""
        return Uplink(self.name, reply.phone, reply.dest, reply.text, now, extension)


def statuses(names: Sequence[str]) -> frozenset[int]:
    """A configured list of submit_sm_resp statuses (`ESME_RSYSERR`, `0x401`, ...)."""
    return frozenset(parse_status(name) for name in names)


class BindRefused(ConnectionError):
    """The SMSC answered the bind with an error status."""


__all__ = ["CodeTable", "IdBase", "IdFormat", "SmppChannel", "SmppConfig", "statuses"]

