"""The ports: what the stages need from the outside world, as protocols.

`storage/` and `backends/` implement them; only `app.py` chooses which implementation runs.
Tests use the real implementations (SQLite, PostgreSQL), not doubles.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import Message, MessageStatus
from yizhan.domain.rates import Admitted, Blocked, RateCheck, WindowCount
from yizhan.domain.registration import Answer, Filing


class Clock(Protocol):
    """Time, injected: every rule that expires, waits, spaces or measures an age reads this
    clock, never `time`, `datetime.now` or the event loop's clock, so that tests drive it to
    exact instants instead of sleeping (tests/conftest.py's `ManualClock`).

    `now` is the wall clock (stored instants, day boundaries, windows on the calendar);
    `monotonic` is for durations inside one process (cache expiry, breaker back-off, commit
    spacing): it never goes back, and only differences between two readings mean anything.
    `sleep` is how code waits for time to pass: the real clock sleeps on the event loop;
    a test's clock returns when it is advanced past the deadline. Timeouts that only guard
    against a peer that never answers (`asyncio.wait_for` around I/O) and measurements of
    how long something took (metrics, logs) stay on the real clock."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (`time.monotonic` in production)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on `monotonic` (at once when <= 0, after
        letting other tasks run)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    # The builtins themselves, not wrappers: caches and the batcher read them per request.
    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(asyncio.sleep)


class Bus(Protocol):
    """Wake-up signals between stages; the items themselves live in the store's outbox."""

    def notify(self, topic: str) -> None: ...

    async def wait(self, topic: str, timeout: float) -> None:
        """Return when `topic` was notified since the last wait, or after `timeout` seconds."""
        ...


class RateCounter(Protocol):
    """Frequency counters shared by every process that accepts messages (docs/domain.md
    "Frequency control"; the windows are those of `domain/rates.py`).

    Each message is a sequence of checks; `admit` decides each message atomically: when
    every check is below its limit the message counts in all of them, otherwise in none and
    the answer says which check blocked it. Messages are decided in the order given."""

    async def admit(self, messages: Sequence[Sequence[RateCheck]],
                    now_ms: int) -> list[Blocked | None]: ...

    async def decide(self, messages: Sequence[Sequence[RateCheck]],
                     now_ms: int) -> list[Blocked | Admitted]:
        """`admit`, answering for an admitted message too what each check saw (its window's
        count before the message, and start): what the policy trail keeps."""
        ...

    async def release(self, messages: Sequence[Sequence[RateCheck]], admitted_ms: int) -> None:
        """Take back the counts of admitted messages that were not committed after all."""
        ...

    async def peek(self, checks: Sequence[RateCheck], now_ms: int) -> list[WindowCount]:
        """The current windows of `checks`, counting nothing."""
        ...

    async def close(self) -> None: ...


# Channel answers to a submit: values, never exceptions (docs/contributing.md, style 4).


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


class SendJournal(Protocol):
    """Where a channel notes a submit that may leave the process (`dispatch/journal.py`)."""

    def sending(self, message_id: int) -> None:
        """Record, before returning, that `message_id`'s submit is about to be handed to a
        carrier connection."""
        ...

    def leaving(self, message_ids: Sequence[int]) -> None:
        """`sending` for the submits a connection is about to write together."""
        ...


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
    journal: SendJournal | None = None
    """For a channel whose `journals_sends` is true: it calls `journal.sending(message_id)`
    (or `leaving` for several) immediately before the submit's bytes go to its carrier
    connection (not before waiting for window space), so that a crash tells what may have
    left from what never did. For any other channel the worker journals the message before
    calling `submit`."""
    sign_name: str = ""
    """The message's signature (its text starts with 【sign_name】): an HTTP upstream sends
    the text under it (`dispatch/channels/http_upstream.py`)."""


class EventSink(Protocol):
    """Where a channel hands receipts and uplinks (the receipt stage's `EventInbox`). Both
    calls return once every event is stored, and raise if one was not."""

    async def __call__(self, event: Receipt | Uplink) -> None: ...

    async def many(self, events: Sequence[Receipt | Uplink]) -> None:
        """Store a batch: one wait for the group commit instead of one per event."""
        ...


class Channel(Protocol):
    """A carrier connection."""

    name: str

    journals_sends: bool
    """True for a channel that calls `SubmitRequest.journal` itself at the moment its bytes
    leave (the SMPP channel); for any other the dispatch worker journals before `submit`."""

    @property
    def ready(self) -> bool:
        """Whether the channel can take a submit now (the SMPP channel: while bound); the
        router skips a channel that is not."""
        ...

    async def wait_ready(self) -> None:
        """Return once the channel is ready (at once for one that always is); the pipeline
        waits a moment for this at start."""
        ...

    async def start(self, sink: EventSink) -> None: ...

    async def submit(self, request: SubmitRequest) -> SubmitResult: ...

    async def stop(self) -> None: ...


class Registrar(Protocol):
    """Where a carrier takes signature registrations (docs/compliance.md "Carrier
    registration"): the simulator's registry answers like a carrier, after its answer time;
    for a real carrier the operator files by hand and records the answer
    (`yizhan signs registration answer`)."""

    async def file(self, filings: Sequence[Filing]) -> None:
        """Hand the carrier these filings (again, after a restart: filing is idempotent
        per registration id)."""
        ...

    async def answers(self) -> list[Answer]:
        """The answers the carrier has given since the last call."""
        ...


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
class Unsent:
    """A claim of a round cut off by a crash whose submit never left the process (the
    submit journal says so): back on the outbox if the outbox row is still this claim (same
    id and attempts) and its message still `submitting`."""

    message_id: int
    outbox_id: int
    attempts: int


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    claim: Claim
    channel: str
    result: SubmitResult
    dead: bool = False
    """A retryable result that has used up its attempts: move it to the dead letters."""
    route: str = ""
    """Why this channel: the router's decision, recorded on the message."""
    at: datetime | None = None
    """When the channel answered: the message's `submitted_at` (None: when it is recorded)."""


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """A receipt with the message status its code means (decided by `domain/codes.py`)."""

    receipt: Receipt
    status: MessageStatus
    error_code: str


class UnmatchedReceipt(NamedTuple):
    """A stored receipt that matched no message (`yizhan receipts unmatched`)."""

    id: int
    channel: str
    remote_id: str
    code: str
    phone: str
    submitted_at: datetime | None
    received_at: datetime
    raw: str


class SettledReceipts(NamedTuple):
    """What settling the receipts still unmatched after a while did (storage/unmatched.py)."""

    by_other_base: int
    """Matched by their id written in the other base (hex for decimal, or back)."""
    by_handset: int
    """Resolved a message left unknown by a lost submit answer."""
    unmatched: list[UnmatchedReceipt]
    """Given up: they match nothing."""


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """A process holding a lease row of the store (`runtime/process_lease.py`)."""

    holder: str
    """Random, one per run: tells this run from any other, even of the same pid."""
    pid: int
    host: str
    """The machine's name, as the refusal shows it."""
    node: str
    """The host and its process namespace: a pid can be checked only on the same node."""
    url: str
    """Where the holder's API listens (empty: not known)."""
    taken_at: datetime
    expires_at: datetime


class Leases(Protocol):
    """Rows by which one process at a time holds a role over the whole store."""

    async def take_lease(self, name: str, me: LeaseHolder,
                         free: Callable[[LeaseHolder], bool]) -> LeaseHolder | None:
        """Hold `name` as `me` (None) unless another holds it and `free(holder)` is false:
        then that holder. Atomic: of two processes taking it at once, one wins."""
        ...

    async def renew_lease(self, name: str, holder: str, expires_at: datetime) -> bool:
        """Push the expiry of `holder`'s lease on; False when it holds it no longer."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give `name` up, if `holder` still holds it."""
        ...

    async def lease_holders(self, prefix: str) -> list[tuple[str, LeaseHolder]]:
        """The leases whose names start with `prefix`, by name (expired or not)."""
        ...


class CarrierRecords(Protocol):
    """What a simulated carrier knows of real-name registrations: whether a signature is
    registered on a sub-port (docs/simulator.md "Real-name registration"). Answered from
    memory on every submit; `simulator/registry.py` keeps it from the platform's store."""

    def registered(self, sub_port: str, sign_name: str) -> bool:
        """Whether the carrier accepts `sign_name` from `sub_port`; `sign_name` "" (a later
        part of a long message, which does not carry the signature): whether it accepts
        any signature there."""
        ...
