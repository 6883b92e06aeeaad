"""The ports: what the stages need from the outside world, as protocols.

`storage/` and `backends/` implement them; only `app.py` chooses which implementation runs.
Tests use the real implementations (SQLite, PostgreSQL), not doubles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import Message, MessageStatus
from yizhan.domain.rates import Blocked, RateCheck, WindowCount


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Bus(Protocol):
    """Wake-up signals between stages; the items themselves live in the store's outbox."""

    def notify(self, topic: str) -> None: ...

    async def wait(self, topic: str, timeout: float) -> None:
        """Return when `topic` was notified since the last wait, or after `timeout` seconds."""
        ...


class RateCounter(Protocol):
    """Frequency counters shared by every process that accepts messages (DOMAIN.md
    "Frequency control"; the windows are those of `domain/rates.py`).

    Each message is a sequence of checks; `admit` decides each message atomically: when
    every check is below its limit the message counts in all of them, otherwise in none and
    the answer says which check blocked it. Messages are decided in the order given."""

    async def admit(self, messages: Sequence[Sequence[RateCheck]],
                    now_ms: int) -> list[Blocked | None]: ...

    async def release(self, messages: Sequence[Sequence[RateCheck]], admitted_ms: int) -> None:
        """Take back the counts of admitted messages that were not committed after all."""
        ...

    async def peek(self, checks: Sequence[RateCheck], now_ms: int) -> list[WindowCount]:
        """The current windows of `checks`, counting nothing."""
        ...

    async def close(self) -> None: ...


# Channel answers to a submit: values, never exceptions (STYLE.md 4).


@dataclass(frozen=True, slots=True)
class Accepted:
    remote_id: str


@dataclass(frozen=True, slots=True)
class Retryable:
    reason: str
    after: float = 1.0


@dataclass(frozen=True, slots=True)
class Rejected:
    code: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """The submit may or may not have reached the carrier (timeout, connection lost after
    sending). Never retried: the message becomes status unknown with this reason."""

    reason: str


SubmitResult = Accepted | Retryable | Rejected | Ambiguous


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    message_id: int
    phone: str
    content: str
    segments: int
    source_addr: str = ""
    extension: str = ""
    """The extension code of the message's account and signature: the channel sends from
    its prefix + channel code + this, and replies to that number come back with it."""


EventSink = Callable[[Receipt | Uplink], Awaitable[None]]
"""Where a channel hands receipts and uplinks; returns once the event is stored."""


class Channel(Protocol):
    name: str

    async def start(self, sink: EventSink) -> None: ...

    async def submit(self, request: SubmitRequest) -> SubmitResult: ...

    async def stop(self) -> None: ...


class Channels(Protocol):
    def pick(self, phone: str) -> Channel: ...

    def all(self) -> Sequence[Channel]: ...


@dataclass(frozen=True, slots=True)
class Claim:
    """An outbox item a dispatch worker holds: the message, and how often it was tried."""

    outbox_id: int
    attempts: int
    message: Message
    rank_offset: timedelta = timedelta(0)
    """How far behind its due time the item ranks (domain/priority.py); a retry keeps it."""


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    claim: Claim
    channel: str
    result: SubmitResult
    dead: bool = False
    """A retryable result that has used up its attempts: move it to the dead letters."""
    route: str = ""
    """Why this channel: the router's decision, recorded on the message."""


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """A receipt with the message status its code means (decided by `receipts/codes.py`)."""

    receipt: Receipt
    status: MessageStatus
    error_code: str
