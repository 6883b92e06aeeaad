"""The session every gateway channel keeps, whatever its protocol (SMPP, CMPP, ...): a
windowed, reconnecting client of a carrier's gateway.

Two halves, each a base class a protocol completes:

* `Link`, one connection: sequence number -> waiter, writes coalesced per event-loop turn
  (`before_write` runs just before them: the channel journals its submits there), a sweep
  once a second that times out overdue requests and sends the protocol's keep-alive after
  `keepalive` quiet seconds (a keep-alive unanswered drops the link). The protocol's link
  decodes its stream in `data_received` (resolving waiters with `_pending`), writes its
  header in `write`, and names its keep-alive in `keepalive_request`.
* `Session`, the channel: one task keeps it bound (connect and authenticate, wait for the
  link to drop, reconnect after a jittered exponential back-off; a link ended by the peer's
  goodbye binds again at once, ours at `stop` ends it), a window of `window` requests in
  flight that throttling halves (and pauses submits for `throttle_backoff` seconds) and each
  window's worth of accepted submits grows back by one, `max_per_second` pacing, the submit
  journal (`_journal_leaving`), long messages submitted part by part, and the deliver loop
  (every incoming deliver of a turn handed to the sink in one call, answered once stored).

A submit is answered with a value (`Accepted`, `Retryable`, `Rejected`, `Ambiguous`:
docs/architecture.md "No duplicate submits"): a request that left and got no answer
(timeout, lost link) is `Ambiguous` and never sent again. How a protocol plugs in is listed
on `Session` (the abstract methods) and in docs/channels.md "Adding a protocol".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, cast

from yizhan.dispatch.channels.smpp_pdu import ShortMessage, text_of
from yizhan.dispatch.channels.smpp_receipts import PartGroups
from yizhan.dispatch.channels.smpp_uplinks import Reply, UplinkParts
from yizhan.domain.events import Receipt, Uplink
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

MAX_SEQUENCE = 0x7FFFFFFF
PART_RETRIES = 5
"""Throttled later parts of a long message are retried here (its first part is already out,
so the whole message cannot go back to the outbox)."""


class LinkClosed(ConnectionError):
    """The connection ended before the peer answered."""


class BindRefused(ConnectionError):
    """The gateway refused our bind / login (its reason is the message)."""


R_contra = TypeVar("R_contra", contravariant=True)


class Waiter(Protocol[R_contra]):
    """Who gets a request's response: an asyncio future is one (`Future[bytes]` for a raw
    request)."""

    def done(self) -> bool: ...

    def set_result(self, result: R_contra, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


class Link(asyncio.Protocol):
    """One connection's bookkeeping; a protocol's subclass decodes and encodes.

    A subclass implements `data_received` (frames, then for a response: `_pending.pop(seq)`
    and the waiter's result; for a request: its own answer or `_on_request`), `write`
    (queue one PDU in `_out` and call `_schedule_flush`) and `keepalive_request`.
    """

    logger = "yizhan.session"
    keepalive_name = "keep-alive"
    """The keep-alive request as the protocol names it, in the log (enquire_link)."""

    def __init__(self, on_request: Callable[[Any, Any], None], *, name: str,
                 response_timeout: float = 10.0, keepalive: float = 30.0) -> None:
        self.name = name
        self.response_timeout = response_timeout
        self.keepalive = keepalive
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.bound_as: Any = None
        """How this link was bound (set by its owner once bound; None: not bound yet)."""
        self.system_id = ""
        self.unbound = False
        """Set by the owner when this link ends with a goodbye (sent or received): a clean
        close, not a lost link."""
        self._on_request = on_request
        self._loop = asyncio.get_running_loop()
        self._pending: dict[int, tuple[Waiter[Any], float, bool]] = {}
        """sequence -> waiter, deadline, and whether it takes the response undecoded."""
        self._sequence = 0
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        # The link's timers (response timeout, keep-alive after quiet) guard against a peer
        # that stops answering: they run on the event loop's clock, not the injected `Clock`.
        self._last_heard = self._loop.time()
        self._probe: asyncio.Future[Any] | None = None
        self.before_write: Callable[[], None] | None = None
        """Called before the queued PDUs are handed to the transport."""

    # ---- what a protocol provides -------------------------------------------------------

    def write(self, command: int, sequence: int, status: int, body: Any) -> None:
        """Queue a PDU given by its fields (a `bytes` body is already encoded); a protocol
        without a header status ignores `status`."""
        raise NotImplementedError

    def keepalive_request(self) -> asyncio.Future[Any]:
        """Send the protocol's keep-alive (enquire_link, CMPP_ACTIVE_TEST)."""
        raise NotImplementedError

    # ---- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self.transport = cast(asyncio.Transport, transport)
        self._sweeper = self._loop.call_later(1.0, self._sweep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for handle in (self._sweeper, self._flush_handle):
            if handle is not None:
                handle.cancel()
        pending, self._pending = self._pending, {}
        for waiter, _, _ in pending.values():
            if not waiter.done():
                waiter.set_exception(LinkClosed("connection lost before the peer answered"))
        if not self.closed.done():
            self.closed.set_result(None)

    # ---- sending ------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def request(self, command: int, body: Any = None,
                timeout: float | None = None) -> asyncio.Future[Any]:
        """Send a request; the future gets its decoded response, or fails with TimeoutError
        or LinkClosed."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._request(future, False, command, body, timeout)
        return future

    def request_raw(self, command: int, body: Any = None,
                    timeout: float | None = None) -> asyncio.Future[bytes]:
        """As `request`, but the future gets the whole response undecoded."""
        future: asyncio.Future[bytes] = self._loop.create_future()
        self._request(future, True, command, body, timeout)
        return future

    def request_to(self, waiter: Waiter[Any], command: int, body: Any = None,
                   timeout: float | None = None) -> None:
        """Send a request whose response (or TimeoutError, LinkClosed) goes to `waiter`."""
        self._request(waiter, False, command, body, timeout)

    def request_raw_to(self, waiter: Waiter[bytes], command: int, body: Any = None,
                       timeout: float | None = None) -> None:
        """As `request_to`, but `waiter` gets the response undecoded: the whole PDU, header
        included. Malformed bodies are the caller's to detect."""
        self._request(waiter, True, command, body, timeout)

    def _request(self, waiter: Waiter[Any], raw: bool, command: int, body: Any,
                 timeout: float | None) -> None:
        if self.transport is None or self.transport.is_closing():
            waiter.set_exception(LinkClosed("the link is closed"))
            return
        sequence = self._sequence = self._sequence % MAX_SEQUENCE + 1
        deadline = self._loop.time() + (self.response_timeout if timeout is None else timeout)
        self._pending[sequence] = (waiter, deadline, raw)
        self.write(command, sequence, 0, body)

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Cut the connection without a goodbye (tests: a dropped link)."""
        if self.transport is not None:
            self.transport.abort()

    def _send_now(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._out:
            if self.before_write is not None:
                self.before_write()
            data = b"".join(self._out)
            self._out = []
            self._send_now(data)

    # ---- timers -------------------------------------------------------------------------

    def _sweep(self) -> None:
        now = self._loop.time()
        overdue = [seq for seq, (_, deadline, _) in self._pending.items() if deadline <= now]
        for seq in overdue:
            waiter = self._pending.pop(seq)[0]
            if not waiter.done():
                waiter.set_exception(TimeoutError("no response in time"))
        if self._probe is not None and self._probe.done():
            failed = self._probe.cancelled() or self._probe.exception() is not None
            self._probe = None
            if failed:
                logging.getLogger(self.logger).warning(
                    "%s: %s unanswered; dropping the link", self.name, self.keepalive_name)
                self.abort()
                return
        if (self.keepalive and self._probe is None and self.bound_as is not None
                and now - self._last_heard >= self.keepalive):
            self._probe = self.keepalive_request()
            self._probe.add_done_callback(_consume)
        self._sweeper = self._loop.call_later(1.0, self._sweep)


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as retrieved (the sweep reads it)."""
    if not future.cancelled():
        future.exception()


class Window:
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


class SessionConfig(Protocol):
    """The settings the session reads; each protocol's config dataclass has these fields."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def window(self) -> int: ...
    @property
    def max_per_second(self) -> float: ...
    @property
    def response_timeout(self) -> float: ...
    @property
    def reconnect_min(self) -> float: ...
    @property
    def reconnect_max(self) -> float: ...
    @property
    def throttle_backoff(self) -> float: ...
    @property
    def uplink_parts_timeout(self) -> float: ...


L = TypeVar("L", bound=Link)
Ack = TypeVar("Ack")
"""What a deliver's answer needs later (its link and sequence number, ...)."""


class Slots(Protocol):
    """A channel's share of its bind limit (`runtime/bind_slots.BindSlots`, `max_binds`)."""

    async def take(self) -> bool: ...
    async def keep(self) -> bool: ...
    async def give_back(self) -> None: ...


SLOT_RETRY_SECONDS = 1.0
"""How often a channel without a bind slot looks for a free one."""
SLOT_RENEW_SECONDS = 10.0
"""How often a bound channel renews its slot (well within the slot's 30 s lease)."""


class Session(ABC, Generic[L, Ack]):
    """A channel to a gateway. A protocol subclasses it and provides:

    * `_bind_links()`: connect and authenticate, appending each link to `self._links` as it
      opens (so a failure closes it) and setting `self._tx` to the one submits go on;
      raise `BindRefused` (or OSError, TimeoutError, LinkClosed) when it cannot.
    * `_goodbye(link)`: the request that ends a link cleanly (unbind, CMPP_TERMINATE).
    * `_bodies(request)`: the encoded submit bodies of a message, one per part.
    * `submit_command`: the request's command id (`answer_name`: its answer's), and
      `_read_answer(link, response)`: the canonical remote id of an accepted submit (str),
      or the result to report. Call
      `_throttled()` from it on a throttling answer, and `_accepted()` on success.
    * `_event_of(link, request, now, answers)`: the receipt or uplink an incoming deliver
      carries (None: nothing yet), adding the answers it releases to `answers`; and
      `_acknowledge(answers, stored)`: answer them (stored or not: the gateway offers again).
    Its link hands delivers to `self._on_deliver(link, request)`.
    """

    journals_sends = True
    """Journals each submit as it is handed to the transport (`_journal_leaving`)."""

    submit_command: int = 0
    logger = "yizhan.session"
    """The channel's log (`yizhan.smpp`, `yizhan.cmpp`): its operators filter on it."""
    answer_name = "the submit's answer"
    """The submit's answer as the protocol names it, in results' reasons (submit_sm_resp)."""

    def __init__(self, config: SessionConfig, clock: Clock, slots: Slots | None = None) -> None:
        self.name = config.name
        self.slots = slots
        """The store's bind slots of this channel when `max_binds` limits it (None: none)."""
        self.waiting_slot = False
        """Unbound because other dispatchers hold every bind slot (`max_binds`)."""
        self._log = logging.getLogger(self.logger)
        self.bound = asyncio.Event()
        """Set while a bind able to submit is up (tests and the benchmark wait on it)."""
        self.binds = 0
        """How many binds succeeded since start (a reconnect adds one)."""
        self.parts = PartGroups()
        self._session = config
        self._clock = clock
        self._sink: EventSink | None = None
        self._tx: L | None = None
        self._links: list[L] = []
        self._window = Window(config.window)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._paused_until = 0.0
        self._next_slot = 0.0
        self._refs: dict[str, int] = {}
        self._inbox: list[tuple[L, Any]] = []
        self._inbox_ready = asyncio.Event()
        self._deliverer: asyncio.Task[None] | None = None
        self._expiry: asyncio.Task[None] | None = None
        self._uplinks: UplinkParts[Ack] = UplinkParts(config.uplink_parts_timeout,
                                                      self._part_text)
        """The parts of long replies waiting for the rest (their answers wait with them)."""
        self._number = ""
        """The channel's number before the extension (106 + channel code, the service code):
        a reply to it + an extension is attributed by that extension."""
        self._leaving: dict[SendJournal, list[int]] = {}
        """Messages whose submit is queued on a link, by the journal of the dispatch worker
        that submits them (the main and the express worker each keep one): journaled as the
        link writes."""

    # ---- what a protocol provides -------------------------------------------------------

    @abstractmethod
    async def _bind_links(self) -> str:
        """Open and authenticate the links; returns how it bound (for the log)."""

    @abstractmethod
    def _goodbye(self, link: L) -> asyncio.Future[Any]: ...

    @abstractmethod
    def _bodies(self, request: SubmitRequest) -> list[bytes]: ...

    @abstractmethod
    def _read_answer(self, link: L, response: bytes) -> str | SubmitResult: ...

    @abstractmethod
    def _event_of(self, link: L, request: Any, now: datetime,
                  answers: list[Ack]) -> Receipt | Uplink | None: ...

    @abstractmethod
    def _acknowledge(self, answers: list[Ack], stored: bool) -> None: ...

    def _part_text(self, part: ShortMessage) -> str:
        """The text of a reply (or of its parts joined), by its data_coding."""
        return text_of(part)

    def _reply_phone(self, address: str) -> str:
        """A reply's handset as the uplink carries it (SMPP: as the SMSC wrote it)."""
        return address

    # ---- replies ------------------------------------------------------------------------

    def _offer_reply(self, part: ShortMessage, ack: Ack, now: datetime,
                     answers: list[Ack]) -> Uplink | None:
        """A reply, or a part of a long one (None: kept until it is whole or overdue)."""
        reply = self._uplinks.offer(part, ack, self._clock.monotonic())
        return None if reply is None else self._uplink(reply, now, answers)

    def _expired_uplinks(self, now: datetime, answers: list[Ack]) -> list[Uplink]:
        """Long replies whose missing parts are overdue, delivered without them."""
        if not len(self._uplinks):
            return []
        return [self._uplink(reply, now, answers)
                for reply in self._uplinks.expired(self._clock.monotonic())]

    def _next_uplink_expiry(self) -> float | None:
        return self._uplinks.next_expiry()

    def _uplink(self, reply: Reply[Ack], now: datetime, answers: list[Ack]) -> Uplink:
        """The reply as an uplink; the extension is what follows this channel's number in
        the number it was sent to: it names account and signature."""
        answers.extend(reply.acks)
        base = self._number
        extension = reply.dest[len(base):] if base and reply.dest.startswith(base) else ""
        return Uplink(self.name, self._reply_phone(reply.phone), reply.dest, reply.text, now,
                      extension)

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
        """Say goodbye on every link (waiting briefly for the answer), then close."""
        self._stopping.set()
        for link in list(self._links):
            link.unbound = True
            if link.is_open and link.bound_as is not None:
                with contextlib.suppress(TimeoutError, LinkClosed):
                    await asyncio.wait_for(self._goodbye(link), 2.0)
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
                self._log.exception("channel %s: could not give its bind slot back", self.name)
        if self._expiry is not None:
            self._expiry.cancel()
        self.bound.clear()

    async def _keep_bound(self) -> None:
        c = self._session
        attempt = 0
        while not self._stopping.is_set():
            if not await self._take_slot():
                await pause(self._clock, SLOT_RETRY_SECONDS, self._stopping)
                continue
            try:
                how = await self._bind_links()
                self.binds += 1
                self.bound.set()
                self._log.info("channel %s: bound to %s:%d as %s", self.name, c.host, c.port,
                               how)
                attempt = 0
                await self._hold([link.closed for link in self._links])
                # A split bind's first link closes while `stop` still unbinds the second:
                # that is our own shutdown, not a lost link, and nothing binds again.
                if self._stopping.is_set():
                    self._log.info("channel %s: unbound", self.name)
                    return
                if any(link.unbound for link in self._links):
                    self._log.info("channel %s: the carrier unbound cleanly; binding again",
                             self.name)
                else:
                    self._log.warning("channel %s: link lost; reconnecting", self.name)
            except (OSError, TimeoutError, LinkClosed, BindRefused) as exc:
                self._log.warning("channel %s: cannot bind to %s:%d: %s", self.name, c.host,
                                  c.port, exc)
            finally:
                self.bound.clear()
                self._tx = None
                for link in self._links:
                    link.close()
                self._links = []
                await self._give_slot_back()
            delay = min(c.reconnect_max, c.reconnect_min * 2 ** attempt)
            attempt += 1
            await pause(self._clock, delay * random.uniform(0.5, 1.0), self._stopping)

    async def _take_slot(self) -> bool:
        """Hold a bind slot before binding (True at once without a limit)."""
        if self.slots is None:
            return True
        try:
            taken = await self.slots.take()
        except Exception:  # the store is down: no slot, try again
            self._log.exception("channel %s: could not read its bind slots", self.name)
            return False
        if not taken and not self.waiting_slot:
            self._log.info("channel %s: every bind the carrier allows is held by other "
                           "dispatchers; waiting for one", self.name)
        self.waiting_slot = not taken
        return taken

    async def _hold(self, closed: list[asyncio.Future[None]]) -> None:
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
                self._log.exception("channel %s: could not renew its bind slot", self.name)

    async def _give_slot_back(self) -> None:
        if self.slots is None or self._stopping.is_set():  # (`stop` gives it back)
            return
        try:
            await self.slots.give_back()
        except Exception:
            self._log.exception("channel %s: could not give its bind slot back", self.name)

    # ---- submitting ---------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        if self._tx is None:
            return Retryable(f"channel {self.name} is not bound", self._session.reconnect_min)
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
        """The canonical remote id of an accepted submit, else the result to report.

        The message is journaled (`dispatch/journal.py`) when the link hands its queued
        submits to the transport (`_journal_leaving`, one write for all the submits of an
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
            if self._paused_until or self._session.max_per_second:
                await self._pace()
            link = self._tx
            if link is None or link.transport is None or link.transport.is_closing():
                return Retryable(f"channel {self.name} is not bound",
                                 self._session.reconnect_min)
            if request.journal is not None:
                self._leaving.setdefault(request.journal, []).append(request.message_id)
            try:
                response = await link.request_raw(self.submit_command, body)
            except TimeoutError:
                return Ambiguous(f"channel {self.name}: no {self.answer_name} within "
                                 f"{self._session.response_timeout:g}s")
            except LinkClosed:
                return Ambiguous(f"channel {self.name}: link lost before {self.answer_name}")
        finally:
            window.release()
        return self._read_answer(link, response)

    def _accepted(self) -> None:
        """A submit was accepted: the throttled window grows back."""
        if self._window.limit < self._window.size:
            self._window.succeeded()

    def _throttled(self) -> None:
        self._window.shrink()
        self._paused_until = self._clock.monotonic() + self._session.throttle_backoff
        self._log.warning("channel %s: throttled by the carrier; window %d, pausing %gs",
                          self.name, self._window.limit, self._session.throttle_backoff)

    async def _pace(self) -> None:
        """Wait out a throttle pause and the per-second limit, if any (on the clock)."""
        now = self._clock.monotonic()
        wait = self._paused_until - now
        if wait <= 0:
            self._paused_until = 0.0  # the pause is over: the hot path skips _pace again
        rate = self._session.max_per_second
        if rate:
            slot = max(now, self._next_slot, self._paused_until)
            self._next_slot = slot + 1.0 / rate
            wait = slot - now
        if wait > 0:
            await self._clock.sleep(wait)

    def _reference(self, dest: str, *, wide: bool) -> int:
        """The next concatenation reference for this destination (rotating, random start)."""
        modulo = 0x10000 if wide else 0x100
        if len(self._refs) > 100_000:
            self._refs.clear()
        ref = (self._refs.get(dest, random.randrange(modulo)) + 1) % modulo
        self._refs[dest] = ref
        return ref

    # ---- receiving ----------------------------------------------------------------------

    def _on_deliver(self, link: L, request: Any) -> None:
        """A deliver arrived: the deliver loop takes it on its next turn."""
        self._inbox.append((link, request))
        self._inbox_ready.set()

    async def _deliver_loop(self) -> None:
        """Hand every deliver that arrived meanwhile to the sink in one call; answer them
        once it returns (stored), or as not stored when it failed (the gateway offers them
        again). The parts of a long uplink are answered when the whole reply is stored."""
        while True:
            await self._inbox_ready.wait()
            self._inbox_ready.clear()
            batch, self._inbox = self._inbox, []
            events: list[Receipt | Uplink] = []
            answers: list[Ack] = []
            now = self._clock.now()
            for link, request in batch:
                event = self._event_of(link, request, now, answers)
                if event is not None:
                    events.append(event)
            expired = self._expired_uplinks(now, answers)
            if expired:
                events.extend(expired)
            if expired or batch:
                self._wake_for_expiry()
            stored = True
            if events:
                try:
                    await self._store(events)
                except Exception:
                    self._log.exception("channel %s: %d events not stored; the gateway will "
                                        "offer them again", self.name, len(events))
                    stored = False
            if answers:
                self._acknowledge(answers, stored)

    def _wake_for_expiry(self) -> None:
        """Run the deliver loop again when the oldest incomplete uplink's time is up (on the
        clock's monotonic time)."""
        due = self._next_uplink_expiry()
        if due is None and self._expiry is None:
            return
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = None if due is None else asyncio.create_task(self._wake_at(due))

    async def _wake_at(self, due: float) -> None:
        await self._clock.sleep(due - self._clock.monotonic())
        self._inbox_ready.set()

    async def _store(self, events: Sequence[Receipt | Uplink]) -> None:
        sink = self._sink
        assert sink is not None
        await sink.many(events)
