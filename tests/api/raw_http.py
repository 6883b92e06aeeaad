"""HTTP/1.1 over a plain socket, for what httpx will not send: raw UTF-8 in a URL, a body
that announces more than it sends, a chunked body sent while the answer is awaited."""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the client sent before the answer came

    def json(self) -> dict[str, object]:
        parsed: dict[str, object] = orjson.loads(self.body)
        return parsed


async def exchange(base_url: str, head: bytes, chunks: Iterable[bytes] = ()) -> RawAnswer:
    """Send `head` (request line and headers, without the blank line), then `chunks` while
    watching for the answer, as curl does: sending stops as soon as the server answers."""
    url = urlsplit(base_url)
    return await asyncio.to_thread(_exchange, (url.hostname or "", url.port or 80), head,
                                   chunks)


def _exchange(address: tuple[str, int], head: bytes, chunks: Iterable[bytes]) -> RawAnswer:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head + b"\r\n\r\n")
        sent = 0
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            _, writable, _ = select.select([sock], [sock], [], 10)
            if not writable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        received = b""
        while b"\r\n\r\n" not in received or len(received) < _expected(received):
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    raw_head, _, body = received.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(lines[0].split()[1]), headers, body, sent)


def _expected(received: bytes) -> int:
    """The length of the whole answer, once its head is in."""
    raw_head, _, _ = received.partition(b"\r\n\r\n")
    for line in raw_head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return len(raw_head) + 4 + int(value)
    return len(received)


def chunked(size: int, total: int) -> Iterable[bytes]:
    """A chunked body of `total` bytes in chunks of `size` (never terminated: the client
    stops sending when the answer comes)."""
    for _ in range(total // size):
        yield f"{size:X}\r\n".encode() + b"1" * size + b"\r\n"
