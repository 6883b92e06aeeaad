"""One CMPP connection, either end of it: the CMPP half of `session.Link`.

Used by the CMPP channel (`cmpp.py`, our SP client) and the simulated ISMG
(`simulator/ismg.py`). Frames CMPP (12-octet header: Total_Length, Command_Id,
Sequence_Id), resolves the waiter of each response by its sequence number (undecoded for a
request sent with `request_raw`: the channel reads the Msg_Id and Result of a
CMPP_SUBMIT_RESP from its bytes), answers CMPP_ACTIVE_TEST itself, and hands every other
request to its owner's `on_request`: decoded, or as its bytes for the commands in
`raw_requests` (the channel's status reports and the simulator's submits read a few fields
at their fixed places). Its keep-alive is CMPP_ACTIVE_TEST.

The field widths depend on the version the CONNECT agreed (`version`): the client knows it
before it connects, the ISMG sets it from the CMPP_CONNECT it reads (whose layout is the
same in both versions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from yizhan.dispatch.channels.cmpp_pdu import (
    HEADER,
    ActiveTestResp,
    Body,
    Command,
    Framer,
    Pdu,
    PduError,
    Version,
    decode,
    encode_body,
)
from yizhan.dispatch.channels.session import Link as SessionLink

log = logging.getLogger("yizhan.cmpp")


class CmppLink(SessionLink):
    logger = "yizhan.cmpp"
    keepalive_name = "CMPP_ACTIVE_TEST"

    def __init__(self, on_request: Callable[[CmppLink, Pdu], None], *, name: str = "cmpp",
                 version: Version = Version.V30, response_timeout: float = 10.0,
                 keepalive: float = 30.0,
                 raw_requests: frozenset[Command] = frozenset()) -> None:
        super().__init__(on_request, name=name, response_timeout=response_timeout,
                         keepalive=keepalive)
        self.version = version
        self._framer = Framer()
        self._raw = {int(command): command for command in raw_requests}
        """Requests handed over undecoded: their Pdu's body is the whole PDU (bytes)."""

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
            if raw[4] & 0x80:  # a response: decoded only when awaited
                sequence = int.from_bytes(raw[8:12], "big")
                entry = pending.pop(sequence, None)
                if entry is None or entry[0].done():
                    continue
                if entry[2]:
                    entry[0].set_result(raw)
                    continue
            elif self._raw:
                lazy = self._raw.get(int.from_bytes(raw[4:8], "big"))
                if lazy is not None:
                    self._on_request(self, Pdu(lazy, int.from_bytes(raw[8:12], "big"), raw))
                    continue
            try:
                pdu = decode(raw, self.version)
            except PduError as exc:
                log.warning("%s: %s", self.name, exc)
                if entry is not None:  # its request times out, as if nothing had come
                    pending[sequence] = entry
                continue
            if entry is not None:
                entry[0].set_result(pdu)
            elif pdu.command is Command.ACTIVE_TEST:
                self.write(Command.ACTIVE_TEST_RESP, pdu.sequence, 0, ActiveTestResp())
            else:
                self._on_request(self, pdu)

    def request(self, command: int, body: Body = None,
                timeout: float | None = None) -> asyncio.Future[Pdu]:
        """Send a request; the future gets its decoded response, or fails with TimeoutError
        or LinkClosed."""
        return super().request(command, body, timeout)

    def respond(self, request: Pdu, body: Body = None) -> None:
        self.write(request.command | 0x80000000, request.sequence, 0, body)

    def send(self, pdu: Pdu) -> None:
        self.write(pdu.command, pdu.sequence, 0, pdu.body)

    def write(self, command: int, sequence: int, status: int, body: Body | bytes) -> None:
        """Queue a PDU given by its fields (a `bytes` body is already encoded; CMPP's header
        has no status: `status` is not used)."""
        if not isinstance(body, bytes):
            body = encode_body(body, self.version)
        self._out.append(HEADER.pack(12 + len(body), command, sequence))
        self._out.append(body)
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def keepalive_request(self) -> asyncio.Future[Pdu]:
        return self.request(Command.ACTIVE_TEST, timeout=self.keepalive)
