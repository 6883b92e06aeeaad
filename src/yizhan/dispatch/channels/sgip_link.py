"""One SGIP connection, any end of it: framing, the 12-octet sequence numbers, request ->
response.

Used by the SGIP channel (`sgip.py`: its Submit connection and the listener the gateway
connects back to, `sgip_listener.py`) and by the simulated SMG (`simulator/sgip_smg.py`).
A `Link` is the session core's link (`session.Link`: waiters by sequence, writes coalesced
per event-loop turn, the journal hook, response timeouts swept once a second) with SGIP's
framing and header. The core numbers requests with a counter; this link writes it as the
third part of the Sequence Number, after the link's node id and the wall time (`wall`, the
injected clock's `now` for a channel) as MMDDhhmmss, and matches responses by that counter.
A Submit's Sequence Number is its message's id: `send_request` returns it with the future,
and a Submit_Resp carries it back.

SGIP has no keep-alive PDU (no ACTIVE_TEST or enquire_link): gateways close idle
connections, and each end opens a new one when it has something to send. A request that
cannot be decoded but whose header can is answered with Result 5 (BAD_PARAMETER), as the spec
asks; a stream that cannot be framed drops the link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import session
from .session import LinkClosed
from .sgip_pdu import (
    HEADER_SIZE,
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
    encode_body,
    header,
    time_of,
)

log = logging.getLogger("yizhan.sgip")

__all__ = ["Link", "LinkClosed", "admit", "bind"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Link(session.Link):
    logger = "yizhan.sgip"
    keepalive_name = "(none: SGIP has no keep-alive)"

    def __init__(self, on_request: Callable[[Link, Pdu], None], *, node: int,
                 name: str = "sgip", response_timeout: float = 10.0,
                 wall: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(on_request, name=name, response_timeout=response_timeout,
                         keepalive=0)
        self.node = node
        self.last_sequence = Sequence(node, 0, 0)
        """The Sequence Number of the last request written."""
        self._wall = wall
        self._framer = Framer()

    @property
    def bound(self) -> bool:
        return self.bound_as is not None

    @property
    def login_name(self) -> str:
        return self.system_id

    def data_received(self, data: bytes) -> None:
        self._last_heard = self._loop.time()
        try:
            frames = self._framer.feed(data)
        except PduError as exc:  # the stream cannot be framed any more: drop the link
            log.warning("%s: %s; closing the link", self.name, exc)
            self.close()
            return
        pending = self._pending
        for raw in frames:
            entry = None
            if raw[4] & 0x80:  # a response: decoded only when its waiter wants it so
                entry = pending.pop(int.from_bytes(raw[16:20], "big"), None)
                if entry is None or entry[0].done():
                    continue
                if entry[2]:
                    entry[0].set_result(raw)
                    continue
            try:
                pdu = decode(raw)
            except PduError as exc:
                log.warning("%s: %s", self.name, exc)
                if entry is not None:  # a broken response: its request times out, as if
                    pending[int.from_bytes(raw[16:20], "big")] = entry  # nothing had come
                self._refuse(raw, exc)
                continue
            if pdu.command.is_response and entry is None:
                continue
            if entry is not None:
                entry[0].set_result(pdu)
            else:
                self._on_request(self, pdu)

    def _refuse(self, raw: bytes, exc: PduError) -> None:
        """Answer a malformed request with BAD_PARAMETER."""
        command_id = int.from_bytes(raw[4:8], "big")
        if exc.sequence is None or command_id & 0x80000000:
            return
        try:
            response = Command(command_id | 0x80000000)
        except ValueError:  # a command we do not know: nothing to answer it with
            return
        body = None if response is Command.UNBIND_RESP else Resp(Result.BAD_PARAMETER)
        self.send(Pdu(response, exc.sequence, body))

    def keepalive_request(self) -> asyncio.Future[Any]:
        raise NotImplementedError("SGIP has no keep-alive")

    # ---- sending ------------------------------------------------------------------------

    def write(self, command: int, sequence: int, status: int, body: Any) -> None:
        """Queue a request numbered `sequence` by the core (SGIP has no header status)."""
        self.last_sequence = Sequence(self.node, time_of(self._wall()), sequence)
        if not isinstance(body, bytes):
            body = encode_body(body)
        self._out.append(header(HEADER_SIZE + len(body), command, self.last_sequence))
        self._out.append(body)
        self._schedule_flush()

    def send_request(self, command: Command, body: Body = None,
                     timeout: float | None = None) -> tuple[Sequence, asyncio.Future[Pdu]]:
        """Send a request; returns its Sequence Number and the future of its response,
        which fails with TimeoutError or LinkClosed when none comes."""
        future: asyncio.Future[Pdu] = self.request(command, body, timeout)
        return self.last_sequence, future

    def respond(self, request: Pdu, result: int = Result.OK) -> None:
        """Answer a request with its response: a Result, or nothing for Unbind."""
        response = request.command.response
        body = None if response is Command.UNBIND_RESP else Resp(result)
        self.send(Pdu(response, request.sequence, body))

    def send(self, pdu: Pdu) -> None:
        """Queue a whole PDU (a response: its request's Sequence Number)."""
        self._out.append(encode(pdu))
        self._schedule_flush()


async def bind(link: Link, login_type: int, name: str, password: str,
               timeout: float = 10.0) -> int:
    """Send Bind on a fresh link and return the gateway's Result (0: bound)."""
    response = await link.request(Command.BIND, Bind(login_type, name, password), timeout)
    if response.command is not Command.BIND_RESP or not isinstance(response.body, Resp):
        raise PduError(f"{response.command.title} answered Bind")
    if response.body.result == Result.OK:
        link.bound_as, link.system_id = login_type, name
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
            link.bound_as, link.system_id = pdu.body.login_type, pdu.body.login_name
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
