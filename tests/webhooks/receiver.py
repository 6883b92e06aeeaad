"""A tenant's push receiver on loopback: a small HTTP/1.1 server over asyncio that answers
as told (`ok`, `fail` with 500, `hang` without answering, `wrong` with 200 and a non-zero
code) and keeps every batch it took. Used by the push tests and bench/push.py."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import orjson


@dataclass
class Batch:
    headers: dict[str, str]
    body: bytes

    @property
    def items(self) -> list[dict[str, object]]:
        value = orjson.loads(self.body)
        assert isinstance(value, list)
        return value


@dataclass
class Receiver:
    mode: str = "ok"
    taken: list[Batch] = field(default_factory=list)
    refused: int = 0
    items_taken: int = 0
    keep: bool = True
    """Keep the batches (tests); the benchmark only counts."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/push"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def items(self) -> list[dict[str, object]]:
        return [item for batch in self.taken for item in batch.items]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                mode = self.mode
                if mode == "hang":
                    await asyncio.Event().wait()
                if mode == "ok":
                    self.items_taken += body.count(b'"idempotency_key"')
                    if self.keep:
                        self.taken.append(Batch(headers, body))
                    self.arrived.set()
                    status, answer = 200, '{"code":0,"msg":"接收成功"}'.encode()
                else:
                    self.refused += 1
                    status, answer = ((500, b'{"code":1}') if mode == "fail"
                                      else (200, b'{"code":7,"msg":"busy"}'))
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):  # the client left, or the server is closing
            pass
        finally:
            writer.close()
