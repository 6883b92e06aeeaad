"""One SMPP connection, either end of it: the SMPP half of `session.Link`.

Used by the ESME channel (`smpp.py`) and the simulator SMSC (`smsc.py`). The session's
`Link` keeps the bookkeeping (sequence -> waiter, coalesced writes, the once-a-second sweep
of timeouts and keep-alive); this one frames SMPP (an asyncio Protocol, not Streams:
Protocols with coalesced writes measured as the fast shape, docs/channels.md "Why our own SMPP
stack"), resolves the waiter of each response by its sequence number, answers enquire_link
itself, and hands every other request to its owner's `on_request`. Its keep-alive is
enquire_link.

Responses are decoded only when someone waits for them, and not at all for a request sent
with `request_raw_to`: its waiter gets the response's bytes (the hot paths read a status and
a message id from them, no `Pdu`). A request whose response is overdue fails with
`TimeoutError` (its response, if it comes later, is dropped: the caller has already reported
it as ambiguous).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from yizhan.dispatch.channels.session import MAX_SEQUENCE, LinkClosed, Waiter
from yizhan.dispatch.channels.session import Link as SessionLink
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

__all__ = ["MAX_SEQUENCE", "Link", "LinkClosed", "Waiter"]


class Link(SessionLink):
    logger = "yizhan.smpp"
    keepalive_name = "enquire_link"

    def __init__(self, on_request: Callable[[Link, Pdu], None], *, name: str = "smpp",
                 response_timeout: float = 10.0, keepalive: float = 30.0,
                 raw_requests: frozenset[Command] = frozenset()) -> None:
        super().__init__(on_request, name=name, response_timeout=response_timeout,
                         keepalive=keepalive)
        self.bound_as: Command | None = None
        """The bind command this link was bound with (set by its owner)."""
        self._raw = {int(command): command for command in raw_requests}
        """Requests handed over undecoded: their Pdu's body is the encoded body (bytes)."""
        self._framer = Framer()

    # ---- asyncio.Protocol ---------------------------------------------------------------

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

    # ---- sending ------------------------------------------------------------------------

    def request(self, command: int, body: Body = None,
                timeout: float | None = None) -> asyncio.Future[Pdu]:
        """Send a request; the future gets its response (or generic_nack), or fails with
        TimeoutError or LinkClosed."""
        return super().request(command, body, timeout)

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

    def keepalive_request(self) -> asyncio.Future[Pdu]:
        return self.request(Command.ENQUIRE_LINK, timeout=self.keepalive)
