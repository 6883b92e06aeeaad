"""The dispatch worker: outbox -> channel submit -> recorded outcome.

Claims due items from the store's outbox (which marks their messages `submitting` in the
same commit), submits them to the channel the router picks with at most `window` in flight,
and records every outcome in one transaction: accepted (remote id kept, waiting for the
receipt), rejected (failed with the carrier's code), retryable (back on the outbox with
exponential back-off, dead-lettered after `max_attempts`), or ambiguous (status unknown,
never submitted again). Receipts then flow through the channel's event sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from yizhan.dispatch.router import Router
from yizhan.domain.model import MessageId
from yizhan.domain.ports import (
    Ambiguous,
    Bus,
    Claim,
    Clock,
    Retryable,
    SubmitOutcome,
    SubmitRequest,
    SubmitResult,
)

log = logging.getLogger("yizhan.dispatch")
T = TypeVar("T")
DISPATCH = "dispatch"


class DispatchStore(Protocol):
    async def claim_dispatch(self, now: datetime, limit: int,
                             lease: timedelta) -> tuple[list[Claim], list[MessageId]]: ...
    async def finish_submits(self, outcomes: Sequence[SubmitOutcome], now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    batch: int = 256
    window: int = 64
    poll_seconds: float = 1.0
    submit_timeout: float = 30.0
    lease: timedelta = timedelta(minutes=5)
    retry_max_seconds: float = 300.0
    max_attempts: int = 20
    gather_seconds: float = 0.005
    """After a wake-up, how long to let more commits join the round: under load every intake
    commit wakes the worker, and a round per commit costs two write transactions for few
    messages. Only delays submits (by at most this), never the API's answer."""


class DispatchWorker:
    def __init__(self, store: DispatchStore, router: Router, bus: Bus, clock: Clock,
                 config: DispatchConfig) -> None:
        self._store = store
        self._router = router
        self._bus = bus
        self._clock = clock
        self._config = config
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._idle.clear()
            try:
                handled = await self.run_once()
            except Exception:  # store unavailable: keep the items, try again shortly
                log.exception("dispatch round failed")
                handled = 0
            self._idle.set()
            if handled < self._config.batch and not self._stopping.is_set():
                await self._bus.wait(DISPATCH, self._config.poll_seconds)
                if self._config.gather_seconds and not self._stopping.is_set():
                    await asyncio.sleep(self._config.gather_seconds)

    async def stop(self, grace: float = 10.0) -> None:
        """Let the current round record its outcomes (up to `grace` seconds), then stop."""
        self._stopping.set()
        self._bus.notify(DISPATCH)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)

    async def run_once(self) -> int:
        """One round: claim, submit, record. Returns how many items were handled."""
        claims, interrupted = await self._store.claim_dispatch(
            self._clock.now(), self._config.batch, self._config.lease)
        for message_id in interrupted:
            log.warning("message %s was cut off mid-submit: status unknown", message_id)
        if not claims:
            return len(interrupted)
        results = await self._submit_all(claims)
        outcomes = [self._outcome(claim, channel, result)
                    for claim, (channel, result) in zip(claims, results, strict=True)]
        await self._store.finish_submits(outcomes, self._clock.now())
        for o in outcomes:
            log.debug("message %s -> %s via %s", o.claim.message.id, o.result, o.channel)
        return len(claims) + len(interrupted)

    async def _submit_all(self, claims: Sequence[Claim]) -> list[tuple[str, SubmitResult]]:
        """Submit every claim with at most `window` in flight, answers in claim order.

        `window` lanes each take the next claim when their last submit is answered: one task
        per lane, not per message, which matters when a round holds hundreds of messages.
        """
        results: list[tuple[str, SubmitResult]] = [("", Ambiguous(""))] * len(claims)
        queue = iter(enumerate(claims))

        async def lane() -> None:
            watch = _Deadline(self._config.submit_timeout)
            try:
                for index, claim in queue:
                    results[index] = await self._submit(claim, watch)
            finally:
                watch.close()

        lanes = min(self._config.window, len(claims))
        if lanes == 1:
            await lane()
        else:
            await asyncio.gather(*(lane() for _ in range(lanes)))
        return results

    async def _submit(self, claim: Claim, watch: _Deadline) -> tuple[str, SubmitResult]:
        message = claim.message
        channel = self._router.pick(message)
        request = SubmitRequest(message.id, message.phone, message.content, message.segments)
        try:
            result = await watch.run(channel.submit(request))
        except TimeoutError:
            result = Ambiguous(f"no answer from channel {channel.name} within "
                               f"{self._config.submit_timeout:g}s")
        except Exception as exc:  # a bug or a broken connection mid-submit
            log.exception("submit of message %s failed", message.id)
            result = Ambiguous(f"channel {channel.name} failed: {exc}")
        return channel.name, result

    def _outcome(self, claim: Claim, channel: str, result: SubmitResult) -> SubmitOutcome:
        if isinstance(result, Retryable):
            attempts = claim.attempts + 1
            after = min(result.after * 2 ** claim.attempts, self._config.retry_max_seconds)
            result = Retryable(result.reason, after)
            return SubmitOutcome(claim, channel, result,
                                 dead=attempts >= self._config.max_attempts)
        return SubmitOutcome(claim, channel, result)


class _Deadline:
    """The submit timeout of one lane: each submit gets `seconds`, watched by one timer.

    `asyncio.timeout` arms and disarms an event-loop timer per submit, which costs more than
    a fast channel's whole submit. Here each submit only records its deadline; the single
    timer, when it fires, cancels the lane's task if the submit then running is overdue, or
    else re-arms itself for that submit's deadline.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    async def run(self, submit: Awaitable[T]) -> T:
        """Await `submit`; raise TimeoutError if it takes longer than the lane's seconds."""
        self._deadline = self._loop.time() + self._seconds
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self._check)
        try:
            return await submit
        except asyncio.CancelledError:
            if not self._expired:
                raise
            self._expired = False
            assert self._task is not None
            self._task.uncancel()
            raise TimeoutError from None
        finally:
            self._deadline = None
            if self._expired:  # the submit swallowed our cancellation: forget it
                self._expired = False
                if self._task is not None:
                    self._task.uncancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._deadline is None:  # between submits: the next one re-arms
            return
        if self._loop.time() >= self._deadline and self._task is not None:
            self._expired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(self._deadline, self._check)
