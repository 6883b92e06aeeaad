"""Size limits of HTTP requests, checked before any route reads a byte of the body.

`FastPaths` (api/app.py) asks `check_head` about every request as it arrives: headers
larger than `max_header_bytes` answer HeadersTooLarge (431), a Content-Length above
`max_body_bytes` answers RequestTooLarge (413) at once, before the body is read. A body
without a length (chunked) is read first, by `read_body`, which raises `BodyTooLarge` as soon
as the bytes received pass the limit (so at most the limit is ever kept, and a client
streaming without end meets the limit, not the authentication); the rest is never read.
Every such answer closes the connection (`Connection: close`), so the server does not read
on to find the next request either. Settings `max_body_bytes` and `max_header_bytes`;
docs/api.md, "Limits".
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Message, Receive, Scope, Send

from yizhan.domain.errors import Refusal


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 32_768


class BodyTooLarge(Exception):
    """The body passed the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.refusal = Refusal("RequestTooLarge", f"more than {limit} bytes")


def check_head(scope: Scope, limits: HttpLimits) -> tuple[Refusal | None, bool]:
    """A refusal for headers or an announced body over the limits, and whether the body
    comes without a length (chunked), so that it must be counted as it is read."""
    size, length, streamed = 0, 0, False
    for name, value in scope["headers"]:
        size += len(name) + len(value)
        if name == b"content-length":  # servers give names in lower case
            length = int(value) if value.isdigit() else 0
        elif name == b"transfer-encoding":
            streamed = True
    if size > limits.max_header_bytes:
        return Refusal("HeadersTooLarge",
                       f"{size} bytes, at most {limits.max_header_bytes}"), streamed
    if length > limits.max_body_bytes:
        return Refusal("RequestTooLarge",
                       f"Content-Length {length}, at most {limits.max_body_bytes}"), streamed
    return None, streamed


class Drain:
    """The `receive` and `send` of a streamed upload (a route that reads its body as it
    comes, and may refuse it before the end: a wrong AccessKey, a bad form).

    A server closes a connection whose request body was not read to its end, and a socket
    closed with unread bytes is reset: the client, still sending, may then never read the
    refusal. So an answer of 400 or more waits until the body is read to its end, if the
    whole body is at most `budget` bytes; a longer one is not read on (its sender may get
    the reset: the route's own bound, `isv.TASK_FILE_TOO_LARGE`, says the same).
    """

    def __init__(self, receive: Receive, send: Send, budget: int, announced: int) -> None:
        self._receive, self._send = receive, send
        self.budget = budget
        self.seen = 0
        self.ended = False
        self.worth_reading = announced <= budget

    async def receive(self) -> Message:
        message = await self._receive()
        self.seen += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.ended = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            while not self.ended and self.worth_reading and self.seen <= self.budget:
                await self.receive()
        await self._send(message)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then waits on the connection (for
    the disconnect) as the original does."""
    given = False

    async def receive_again() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body (None if the client went away), raising `BodyTooLarge` past `limit`."""
    chunks = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
