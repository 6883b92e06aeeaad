"""One SMPP connection, either end of it: framing, sequence numbers, request -> response.

Used by the ESME channel (`smpp.py`) and the simulator SMSC (`smsc.py`). A `Link` is an
asyncio Protocol (not Streams: Protocols with coalesced writes measured as the fast shape,
docs/channels.md "Why our own SMPP stack"). It decodes every PDU of a read, resolves the future of
each response by its sequence number, answers enquire_link itself, and hands every other request
to its owner's `on_request`. Writes made during one event-loop turn leave in one
`transport.write`, and `before_write`, when set, runs just before it (the ESME channel
writes its submit journal there: the ids of the submits about to leave).

A request is answered to a `Waiter`: an asyncio future for callers that await the response,
or any object with the same three methods for callers that only count (the simulator's
receipts: no future and no callback per deliver_sm). Responses are decoded only when someone
waits for them, and not at all for a request sent with `request_raw_to`: its waiter gets the
response's bytes (the hot paths read a status and a message id from them, no `Pdu`).
Timeouts are swept once a second, never armed per PDU: a request whose response is overdue
fails with `TimeoutError` (its response, if it comes later, is dropped: the caller has
already reported it as ambiguous). The same sweep sends enquire_link when the link has been
quiet for `keepalive` seconds and drops a link whose enquire_link went unanswered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from yizhan.dispatch.channels.smpp_pdu import (
    HEADER,
    Body,
    Command,
    Framer,
    Pdu,
    PduError,
    Status,
    decode,
    encode,
    encode_body,
)

log = logging.getLogger("yizhan.smpp")

MAX_SEQUENCE = 0x7FFFFFFF


class LinkClosed(ConnectionError):
    """The connection ended before the peer answered."""


R_contra = TypeVar("R_contra", contravariant=True)


class Waiter(Protocol[R_contra]):
    """Who gets a request's response: `asyncio.Future[Pdu]` is one (`Future[bytes]` for a
    raw request)."""

    def done(self) -> bool: ...

    def set_result(self, result: R_contra, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


class Link(asyncio.Protocol):
    def __init__(self, on_request: Callable[[Link, Pdu], None], *, name: str = "smpp",
                 response_timeout: float = 10.0, keepalive: float = 30.0,
                 raw_requests: frozenset[Command] = frozenset()) -> None:
        self.name = name
        self.response_timeout = response_timeout
        self.keepalive = keepalive
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.bound_as: Command | None = None
        """The bind command this link was bound with (set by its owner)."""
        self.system_id = ""
        self.unbound = False
        """Set by the owner when this link ends with an unbind (sent or received): a clean
        close, not a lost link."""
        self._on_request = on_request
        self._raw = {int(command): command for command in raw_requests}
        """Requests handed over undecoded: their Pdu's body is the encoded body (bytes)."""
        self._loop = asyncio.get_running_loop()
        self._framer = Framer()
        self._pending: dict[int, tuple[Waiter[Any], float, bool]] = {}
        """sequence -> waiter, deadline, and whether it takes the response undecoded."""
        self._sequence = 0
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        # The link's timers (response timeout, enquire_link after quiet) guard against a peer
        # that stops answering: they run on the event loop's clock, not the injected `Clock`.
        self._last_heard = self._loop.time()
        self._probe: asyncio.Future[Pdu] | None = None
        self.before_write: Callable[[], None] | None = None
        """Called before the queued PDUs are handed to the transport."""

    # ---- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self.transport = cast(asyncio.Transport, transport)
        self._sweeper = self._loop.call_later(1.0, self._sweep)

    def data_received(self, data: bytes) -> None:
        self._last_heard = self._loop.time()
        try:
            frames = self._framer.feed(data)
        except PduError as exc:  # the stream cannot be framed any more: drop the link
            log.warning("%s: %s; closing the link", self.name, exc)
            self._send_now(encode(Pdu(Command.GENERIC_NACK, 0, Status.RINVCMDLEN)))
            self.close()
            return
        pending = self._pending
        for raw in frames:
            entry = None
            if raw[4] & 0x80:  # a response, or generic_nack: decoded only when awaited
                sequence = int.from_bytes(raw[12:16], "big")
                entry = pending.pop(sequence, None)
                if entry is None or entry[0].done():
                    continue
                if entry[2]:
                    entry[0].set_result(raw)
                    continue
            elif self._raw:
                _, command_id, status, sequence = HEADER.unpack_from(raw)
                lazy = self._raw.get(command_id)
                if lazy is not None:
                    self._on_request(self, Pdu(lazy, sequence, status, raw[16:]))
                    continue
            try:
                pdu = decode(raw)
            except PduError as exc:
                log.warning("%s: %s", self.name, exc)
                if entry is not None:  # its request times out, as if nothing had come
                    pending[sequence] = entry
                self.send(Pdu(Command.GENERIC_NACK, exc.sequence, exc.status))
                continue
            command = pdu.command
            if entry is not None:
                entry[0].set_result(pdu)
            elif command is Command.ENQUIRE_LINK:
                self.send(Pdu(Command.ENQUIRE_LINK_RESP, pdu.sequence))
            else:
                self._on_request(self, pdu)

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

    def request(self, command: Command, body: Body = None,
                timeout: float | None = None) -> asyncio.Future[Pdu]:
        """Send a request; the future gets its response (or generic_nack), or fails with
        TimeoutError or LinkClosed."""
        future: asyncio.Future[Pdu] = self._loop.create_future()
        self._request(future, False, command, body, timeout)
        return future

    def request_raw(self, command: Command, body: Body = None,
                    timeout: float | None = None) -> asyncio.Future[bytes]:
        """As `request`, but the future gets the response undecoded (`request_raw_to`)."""
        future: asyncio.Future[bytes] = self._loop.create_future()
        self._request(future, True, command, body, timeout)
        return future

    def request_to(self, waiter: Waiter[Pdu], command: Command, body: Body = None,
                   timeout: float | None = None) -> None:
        """Send a request whose response (or TimeoutError, LinkClosed) goes to `waiter`."""
        self._request(waiter, False, command, body, timeout)

    def request_raw_to(self, waiter: Waiter[bytes], command: Command, body: Body = None,
                       timeout: float | None = None) -> None:
        """As `request_to`, but `waiter` gets the response undecoded: the whole PDU, header
        included (a generic_nack too: check the command_id). Malformed bodies are the
        caller's to detect."""
        self._request(waiter, True, command, body, timeout)

    def _request(self, waiter: Waiter[Any], raw: bool, command: Command, body: Body,
                 timeout: float | None) -> None:
        if self.transport is None or self.transport.is_closing():
            waiter.set_exception(LinkClosed("the link is closed"))
            return
        sequence = self._sequence = self._sequence % MAX_SEQUENCE + 1
        deadline = self._loop.time() + (self.response_timeout if timeout is None else timeout)
        self._pending[sequence] = (waiter, deadline, raw)
        self.write(command, sequence, 0, body)

    def respond(self, request: Pdu, status: int = Status.ROK, body: Body = None) -> None:
        self.write(request.command | 0x80000000, request.sequence, status, body)

    def send(self, pdu: Pdu) -> None:
        """Queue a PDU; everything queued in this event-loop turn leaves in one write."""
        self.write(pdu.command, pdu.sequence, pdu.status, pdu.body)

    def write(self, command: int, sequence: int, status: int, body: Body) -> None:
        """Queue a PDU given by its fields (a `bytes` body is already encoded)."""
        if not isinstance(body, bytes):
            body = encode_body(body)
        self._out.append(HEADER.pack(16 + len(body), command, status, sequence))
        self._out.append(body)
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
                log.warning("%s: enquire_link unanswered; dropping the link", self.name)
                self.abort()
                return
        if (self.keepalive and self._probe is None and self.bound_as is not None
                and now - self._last_heard >= self.keepalive):
            self._probe = self.request(Command.ENQUIRE_LINK, timeout=self.keepalive)
            self._probe.add_done_callback(_consume)
        self._sweeper = self._loop.call_later(1.0, self._sweep)


def _consume(future: asyncio.Future[Pdu]) -> None:
    """Mark a future's exception as retrieved (the sweep reads it)."""
    if not future.cancelled():
        future.exception()
