"""The built-in carrier simulator, the embedded default channel.

It accepts every submit (unless the script says otherwise), assigns a remote message id and
sends a receipt back through the channel's event sink after a delay. A script (JSON or TOML,
docs/simulator.md) chooses the outcome per number: receipt code, delay, or a submit that is
rejected, throttled (retryable) or never answered. In this issue it runs in process; the
carriers issue makes it a real SMPP server on loopback behind the same Channel port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from yizhan.domain.events import Receipt
from yizhan.domain.ports import (
    Accepted,
    Clock,
    EventSink,
    Rejected,
    Retryable,
    SubmitRequest,
    SubmitResult,
)

log = logging.getLogger("yizhan.simulator")


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str = "DELIVRD"
    """Receipt code sent back (DELIVRD, UNDELIV, EXPIRED, MK:0001, ...)."""
    delay: float = 0.2
    """Seconds between the submit and the receipt."""
    submit: str = "accept"
    """accept | reject:<code> | throttle | hang (never answers: the submit times out)."""


@dataclass(slots=True)
class Script:
    default: Outcome = field(default_factory=Outcome)
    numbers: dict[str, Outcome] = field(default_factory=dict)

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
        return cls(default, numbers)


class SimulatorChannel:
    def __init__(self, clock: Clock, script: Script | None = None,
                 name: str = "simulator") -> None:
        self.name = name
        self.script = script or Script()
        self.submits: Counter[int] = Counter()
        """How often each message id was submitted: tests use it to prove no duplicates."""
        self._clock = clock
        self._sink: EventSink | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self, sink: EventSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        for task in list(self._pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
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
        remote_id = secrets.token_hex(8)
        task = asyncio.create_task(self._receipt_later(remote_id, outcome))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return Accepted(remote_id)

    async def _receipt_later(self, remote_id: str, outcome: Outcome) -> None:
        await asyncio.sleep(outcome.delay)
        receipt = Receipt(self.name, remote_id, outcome.code, self._clock.now(),
                          raw=f"id:{remote_id} stat:{outcome.code}")
        for attempt in range(60):  # like an SMSC, keep offering the receipt until it is taken
            sink = self._sink
            if sink is None:
                return
            try:
                await sink(receipt)
                return
            except Exception:
                log.warning("receipt %s not stored (attempt %d); retrying", remote_id,
                            attempt + 1)
                await asyncio.sleep(1.0)
