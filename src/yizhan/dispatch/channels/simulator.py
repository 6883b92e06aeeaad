"""The built-in carrier simulator, the embedded default channel.

It accepts every submit (unless the script says otherwise), assigns a remote message id and
sends a receipt back through the channel's event sink after a delay. A script (JSON or TOML,
docs/simulator.md) chooses the outcome per number: receipt code, delay, or a submit that is
rejected, throttled (retryable) or never answered. In this issue it runs in process; the
carriers issue makes it a real SMPP server on loopback behind the same Channel port.

Receipts wait in one timer queue per channel, not one task each: a single delivery loop hands
every receipt that is due to the sink in one batch (`EventSink.many`: the receipt stage
stores the batch in one commit). Like an SMSC, it keeps offering a receipt the sink failed
to take, every second, up to `OFFERS` times. Its delays are the carrier's and run on the
event loop's clock: a test's manual clock moves the platform's time, not the simulated world
outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from yizhan.domain.events import Receipt
from yizhan.domain.ports import (
    Accepted,
    CarrierRecords,
    Clock,
    EventSink,
    Rejected,
    Retryable,
    SubmitRequest,
    SubmitResult,
)

log = logging.getLogger("yizhan.simulator")

OFFERS = 60
"""How often a receipt is offered to a failing sink (once a second) before it is dropped."""
RETRY_SECONDS = 1.0
REAL_NAME_CODE = "MB:1077"
"""The receipt code of a simulated carrier that refuses a signature not registered on the
sub-port (`domain/codes.py` maps it to `isv.SIGN_NOT_REGISTERED`)."""


def sign_name_of(text: str) -> str:
    """The signature at the head of a message's text (【驿站】...), or "" when the text does
    not start with one (a later part of a long message)."""
    if not text.startswith("【"):
        return ""
    end = text.find("】")
    return text[1:end] if end > 0 else ""


@dataclass(order=True, slots=True)
class _Pending:
    """A receipt waiting for its time; ordered by when it is due (then by submit order)."""

    due: float
    seq: int
    remote_id: str = field(compare=False)
    code: str = field(compare=False)
    offers: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str = "DELIVRD"
    """Receipt code sent back (DELIVRD, UNDELIV, EXPIRED, MK:0001, ...)."""
    delay: float = 0.2
    """Seconds between the submit and the receipt."""
    submit: str = "accept"
    """accept | reject:<code> | throttle | hang (never answers: the submit times out) |
    drop (the SMPP simulator cuts the link instead of answering)."""
    receipts: int = 1
    """How many receipts the SMPP simulator sends (2: a duplicate; 0: none)."""
    receipt_first: bool = False
    """SMPP simulator: send the receipt before the submit_sm_resp (out of order)."""
    uplink: str = ""
    """SMPP simulator: the handset replies this text after its receipt (e.g. "R")."""


@dataclass(slots=True)
class Script:
    default: Outcome = field(default_factory=Outcome)
    numbers: dict[str, Outcome] = field(default_factory=dict)
    keywords: dict[str, str] = field(default_factory=dict)
    """SMPP simulator: content with this word gets this receipt code (carrier interception)."""

    def outcome(self, phone: str) -> Outcome:
        bare = phone[3:] if phone.startswith("+86") else phone
        return self.numbers.get(phone) or self.numbers.get(bare) or self.default

    @classmethod
    def load(cls, path: Path, default_delay: float) -> Script:
        text = path.read_bytes()
        data: dict[str, Any] = (tomllib.loads(text.decode()) if path.suffix == ".toml"
                                else orjson.loads(text))
        default = Outcome(**{"delay": default_delay, **data.get("default", {})})
        numbers = {str(k): Outcome(**{"delay": default.delay, **v})
                   for k, v in data.get("numbers", {}).items()}
        keywords = {str(k): str(v) for k, v in data.get("keywords", {}).items()}
        return cls(default, numbers, keywords)


class SimulatorChannel:
    journals_sends = False
    """The worker journals each submit: in process, nothing can be cut off mid-write."""
    ready = True
    """Always: there is no connection to wait for."""

    def __init__(self, clock: Clock, script: Script | None = None,
                 name: str = "simulator", records: CarrierRecords | None = None) -> None:
        self.name = name
        self.script = script or Script()
        self.records = records
        """Set for a channel whose carrier requires registration (`registration = true`):
        a message whose signature is not registered on its sub-port (`name:extension`)
        is accepted and fails with `REAL_NAME_CODE`, as a carrier does."""
        self.submits: Counter[int] = Counter()
        """How often each message id was submitted: tests use it to prove no duplicates."""
        self._clock = clock
        self._sink: EventSink | None = None
        self._queue: list[_Pending] = []
        self._seq = 0
        self._wakeup = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._loop_task: asyncio.Task[None] | None = None
        # Remote ids only need to be unique, like an SMSC's: a seeded PRNG, no syscall each.
        self._remote_ids = random.Random()

    async def wait_ready(self) -> None:
        return

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._wakeup = asyncio.Event()  # of this start's event loop
        if self._queue:  # submitted while stopped: deliver those too
            self._wakeup.set()
        self._loop_task = asyncio.create_task(self._deliver_loop(), name=f"{self.name}:receipts")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()
        self._sink = None

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        outcome = self.script.outcome(request.phone)
        if outcome.submit == "hang":
            self.submits[request.message_id] += 1
            await asyncio.Event().wait()
        if outcome.submit == "throttle":
            return Retryable("simulator: throttled", after=0.05)
        if outcome.submit.startswith("reject"):
            return Rejected(outcome.submit.partition(":")[2] or "REJECTD", "simulator: rejected")
        self.submits[request.message_id] += 1
        remote_id = f"{self._remote_ids.getrandbits(64):016x}"
        code = outcome.code
        records = self.records
        if records is not None and not records.registered(
                f"{self.name}:{request.extension}", sign_name_of(request.content)):
            code = REAL_NAME_CODE
        self._schedule(_Pending(asyncio.get_running_loop().time() + outcome.delay, self._seq,
                                remote_id, code))
        return Accepted(remote_id)

    def _schedule(self, item: _Pending) -> None:
        """Queue a receipt; re-arm the timer only when it is due before the armed time."""
        self._seq += 1
        heapq.heappush(self._queue, item)
        if self._queue[0] is item:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_at(item.due, self._wakeup.set)

    async def _deliver_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            due: list[_Pending] = []
            now = loop.time()
            while self._queue and self._queue[0].due <= now:
                due.append(heapq.heappop(self._queue))
            self._timer = (loop.call_at(self._queue[0].due, self._wakeup.set)
                           if self._queue else None)
            if due:
                await self._deliver(due)

    async def _deliver(self, due: list[_Pending]) -> None:
        """Hand the due receipts to the sink; queue those it failed to take for another offer."""
        sink = self._sink
        if sink is None:
            return
        now = self._clock.now()
        receipts = [Receipt(self.name, p.remote_id, p.code, now,
                            raw=f"id:{p.remote_id} stat:{p.code}") for p in due]
        try:
            await sink.many(receipts)
            failed = []
        except Exception:
            failed = due
        retry_at = asyncio.get_running_loop().time() + RETRY_SECONDS
        for p in failed:
            p.offers += 1
            log.warning("receipt %s not stored (attempt %d); retrying", p.remote_id, p.offers)
            if p.offers < OFFERS:
                self._schedule(_Pending(retry_at, self._seq, p.remote_id, p.code, p.offers))
