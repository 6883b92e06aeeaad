"""One SGIP connection, any end of it: framing, the 12-octet sequence numbers, request ->
response.

Used by the SP's listener the gateway connects back to (`sgip_listener.py`) and by the
simulated SMG (`simulator/sgip_smg.py`), both ways of its connections. A `Link` is an
asyncio Protocol, the shape of `smpp_link.Link`: it decodes every PDU of a read, resolves
the future of each response by its Sequence Number, and hands every request to its owner's
`on_request`. Writes made during one event-loop turn leave in one `transport.write`.

A request's Sequence Number is made here: the link's node id, the wall time (`wall`, the
injected clock's `now` for a channel) as MMDDhhmmss, and a counter that wraps at 2^32. A
Submit's sequence is its message's id, so `request` returns it with the future.

Timeouts are swept once a second, never armed per PDU: a request whose response is overdue
fails with `TimeoutError`. SGIP has no keep-alive PDU (no ACTIVE_TEST or enquire_link):
gateways close idle connections, and each end opens a new one when it has something to
send. A request that cannot be decoded but whose header can is answered with Result 5
(BAD_PARAMETER), as the spec asks; a stream that cannot be framed drops the link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from .sgip_pdu import (
    Bind,
    Body,
    Command,
    Framer,
    Pdu,
    PduError,
    Resp,
    Result,
    Sequence,
    decode,
    encode,
    time_of,
)

log = logging.getLogger("yizhan.sgip")

_COUNTER = 1 << 32


class LinkClosed(ConnectionError):
    """The connection ended before the peer answered."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Link(asyncio.Protocol):
    def __init__(self, on_request: Callable[[Link, Pdu], None], *, node: int,
                 name: str = "sgip", response_timeout: float = 10.0,
                 wall: Callable[[], datetime] = _utc_now) -> None:
        self.name = name
        self.node = node
        self.response_timeout = response_timeout
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.login_name = ""
        """Set by the owner once the peer's Bind was accepted (or ours answered OK)."""
        self.bound = False
        self._on_request = on_request
        self._wall = wall
        self._loop = asyncio.get_running_loop()
        self._framer = Framer()
        self._pending: dict[Sequence, tuple[asyncio.Future[Pdu], float]] = {}
        self._counter = 0
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    # ---- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._sweeper = self._loop.call_later(1.0, self._sweep)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._framer.feed(data)
        except PduError as exc:  # the stream cannot be framed any more: drop the link
            log.warning("%s: %s; closing the link", self.name, exc)
            self.close()
            return
        for raw in frames:
            try:
                pdu = decode(raw)
            except PduError as exc:
                log.warning("%s: %s", self.name, exc)
                self._refuse(raw, exc)
                continue
            if pdu.command.is_response:
                entry = self._pending.pop(pdu.sequence, None)
                if entry is not None and not entry[0].done():
                    entry[0].set_result(pdu)
            else:
                self._on_request(self, pdu)

    def _refuse(self, raw: bytes, exc: PduError) -> None:
        """Answer a malformed request with BAD_PARAMETER; a malformed response is left to
        time out, as if nothing had come."""
        command_id = int.from_bytes(raw[4:8], "big")
        if exc.sequence is None or command_id & 0x80000000:
            return
        try:
            response = Command(command_id | 0x80000000)
        except ValueError:  # a command we do not know: answered with Unbind_Resp's silence
            return
        body = None if response is Command.UNBIND_RESP else Resp(Result.BAD_PARAMETER)
        self.send(Pdu(response, exc.sequence, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for handle in (self._sweeper, self._flush_handle):
            if handle is not None:
                handle.cancel()
        pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(LinkClosed("connection lost before the peer answered"))
        if not self.closed.done():
            self.closed.set_result(None)

    # ---- sending ------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def next_sequence(self) -> Sequence:
        self._counter = (self._counter + 1) % _COUNTER
        return Sequence(self.node, time_of(self._wall()), self._counter)

    def request(self, command: Command, body: Body = None,
                timeout: float | None = None) -> tuple[Sequence, asyncio.Future[Pdu]]:
        """Send a request; returns its Sequence Number and the future of its response,
        which fails with TimeoutError or LinkClosed when none comes."""
        future: asyncio.Future[Pdu] = self._loop.create_future()
        sequence = self.next_sequence()
        if not self.is_open:
            future.set_exception(LinkClosed("the link is closed"))
            return sequence, future
        deadline = self._loop.time() + (self.response_timeout if timeout is None else timeout)
        self._pending[sequence] = (future, deadline)
        self.send(Pdu(command, sequence, body))
        return sequence, future

    def respond(self, request: Pdu, result: int = Result.OK) -> None:
        """Answer a request with its response: a Result, or nothing for Unbind."""
        response = request.command.response
        body = None if response is Command.UNBIND_RESP else Resp(result)
        self.send(Pdu(response, request.sequence, body))

    def send(self, pdu: Pdu) -> None:
        """Queue a PDU; everything queued in this event-loop turn leaves in one write."""
        self._out.append(encode(pdu))
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

    def _flush(self) -> None:
        self._flush_handle = None
        if self._out:
            data = b"".join(self._out)
            self._out = []
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(data)

    # ---- timers -------------------------------------------------------------------------

    def _sweep(self) -> None:
        now = self._loop.time()
        overdue = [seq for seq, (_, deadline) in self._pending.items() if deadline <= now]
        for seq in overdue:
            future = self._pending.pop(seq)[0]
            if not future.done():
                future.set_exception(TimeoutError("no response in time"))
        self._sweeper = self._loop.call_later(1.0, self._sweep)


async def bind(link: Link, login_type: int, name: str, password: str,
               timeout: float = 10.0) -> int:
    """Send Bind on a fresh link and return the gateway's Result (0: bound)."""
    _, future = link.request(Command.BIND, Bind(login_type, name, password), timeout)
    response = await future
    if response.command is not Command.BIND_RESP or not isinstance(response.body, Resp):
        raise PduError(f"{response.command.title} answered Bind")
    if response.body.result == Result.OK:
        link.bound, link.login_name = True, name
    return response.body.result


def admit(link: Link, pdu: Pdu, check: Callable[[Bind], int]) -> bool:
    """The session rules every SGIP server applies before its own: a Bind is answered with
    what `check` says (a refusal closes the connection; a second Bind on one connection is
    Result 2), an Unbind is answered and the connection closed, and anything before a Bind
    is refused with Result 1 and the connection closed. True when `pdu` is a request of a
    bound connection, for the server to handle."""
    command = pdu.command
    if command is Command.BIND:
        assert isinstance(pdu.body, Bind)
        if link.bound:
            link.respond(pdu, Result.REPEATED_LOGIN)
            return False
        result = check(pdu.body)
        link.respond(pdu, result)
        if result == Result.OK:
            link.bound, link.login_name = True, pdu.body.login_name
        else:
            link.close()
        return False
    if command is Command.UNBIND:
        link.respond(pdu)
        link.close()
        return False
    if not link.bound:
        log.warning("%s: %s before Bind; closing the connection", link.name, command.title)
        link.respond(pdu, Result.ILLEGAL_LOGIN)
        link.close()
        return False
    return True
