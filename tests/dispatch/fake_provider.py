"""A cloud SMS provider on loopback for the upstream channels' tests: a small HTTP/1.1 server
that records each request and answers with the next scripted answer: a recorded answer of
the provider's documented format (`tests/fixtures/upstream/*.json`, each naming its
source), or a cut: `CLOSE` reads the request and closes the connection without answering
(the request may have been taken: ambiguous)."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
CLOSE = "close"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def recorded(name: str, key: str) -> Answer:
    """Answer `key` of the recorded file `name` (tests/fixtures/upstream/<name>.json)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    answer = data["answers"][key]
    return Answer(answer.get("status", 200), json.dumps(answer["body"]).encode(),
                  answer.get("headers", {}))


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: deque[Answer | str] = deque()
        self.default: Answer | None = None
        """Answered when the script is empty (None: 500)."""
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def then(self, *answers: Answer | str) -> FakeProvider:
        self.script.extend(answers)
        return self

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Request(method, path, headers, body))
                answer = self.script.popleft() if self.script else self.default
                if answer == CLOSE:
                    break
                if not isinstance(answer, Answer):
                    answer = Answer(500, b"{}")
                extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                writer.write(f"HTTP/1.1 {answer.status} X\r\ncontent-type: application/json\r\n"
                             f"content-length: {len(answer.body)}\r\n{extra}\r\n".encode()
                             + answer.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
