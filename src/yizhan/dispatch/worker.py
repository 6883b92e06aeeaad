"""The dispatch worker: outbox -> channel submit -> recorded outcome.

Claims due items from the store's outbox (which marks their messages `submitting` in the
same commit), submits them to the channel the router picks with at most `window` in flight,
and records every outcome in one transaction: accepted (remote id kept, waiting for the
receipt), rejected (failed with the carrier's code), retryable (back on the outbox with
exponential back-off, dead-lettered after `max_attempts`), or ambiguous (status unknown,
never submitted again). Receipts then flow through the channel's event sink.

Crashes: the round's claims go into the submit journal (`dispatch/journal.py`) inside the
claim's transaction, just before it commits; each message again when its submit may leave
the process (written by the channel where its bytes leave, or here before `submit` for a
channel that cannot); and the round is closed in the journal once the outcomes are
committed. After kill -9 the next start puts the claimed messages that never left back on
the outbox; only the others become unknown.

Leases: a round's claims hold for `lease` (`dispatch_lease_seconds`) and are extended every
third of it while the round submits, so another dispatcher on the store takes over only
the claims of one that died (docs/deployment.md "N API and M dispatch processes"). A
dispatcher whose channels all wait for a bind slot (`max_binds`) claims nothing.

Failover: a channel that answers `Retryable` took nothing, so the same message goes on at
once to the next channel the router offers (up to `failovers` more); an `Ambiguous` answer
may have reached the carrier and is never sent anywhere again. The router's decision (route,
channel, channels skipped and why) is recorded on the message (`route`). The source address
carries the message's extension code: its signature's id (docs/channels.md "Uplinks").

Express lane: a verification code accepted while a round of hundreds of bulk messages is in
flight would wait for that whole round (its submits, answers and recorded outcomes) before
the next claim. So a process runs a second, small worker (`DispatchConfig.express`) beside the
main one, over the same router and channels, with a submit journal of its own. It claims only
items whose rank time has come (`rank_at <= now`: verification codes, and anything that has
aged past its class's offset), is woken by the `dispatch-urgent` signal that intake sends
for verification codes, and submits them while the bulk round is under way. The outbox
leases keep the two from claiming the same item (docs/architecture.md "Dispatch order").

Registration: when the router knows channels that refuse unregistered signatures, each round
learns, for its (account, signature) pairs, the channels where the carriers accept the
signature (`registered_channels`, one query per round for the pairs not known in the last
`registrations_seconds`), and the router prefers those (docs/compliance.md "Enforcement").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from yizhan.dispatch.journal import SubmitJournal
from yizhan.dispatch.router import Router
from yizhan.domain.model import AccountId, Message, MessageId
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
from yizhan.runtime.pausing import pause

log = logging.getLogger("yizhan.dispatch")
T = TypeVar("T")
_Answer = tuple[str, SubmitResult, str, datetime | None]
"""A submit's channel, answer, router's reasons and the moment of the answer."""
DISPATCH = "dispatch"
DISPATCH_URGENT = "dispatch-urgent"
"""The wake-up of the express worker: a verification code was accepted."""


class DispatchStore(Protocol):
    async def claim_dispatch(self, now: datetime, limit: int, lease: timedelta,
                             urgent: bool = False,
                             journal: Callable[[Sequence[Claim]], None] | None = None
                             ) -> tuple[list[Claim], list[MessageId]]: ...
    async def finish_submits(self, outcomes: Sequence[SubmitOutcome], now: datetime,
                             urgent: bool = False) -> None: ...
    async def extend_claims(self, claims: Sequence[Claim], until: datetime) -> None: ...
    async def signature_ids(self, pairs: Sequence[tuple[AccountId, str]]
                            ) -> dict[tuple[AccountId, str], int]: ...
    async def registered_channels(self, pairs: Sequence[tuple[AccountId, str]]
                                  ) -> dict[tuple[AccountId, str], frozenset[str]]: ...


class SubmitObserver(Protocol):
    """Where submits are counted (`yizhan.runtime.metrics.Metrics`)."""

    def submitted(self, channel: str, result: SubmitResult) -> None: ...
    def failed_over(self, channel: str) -> None: ...
    def cut_off(self, count: int) -> None: ...
    def no_channel(self) -> None: ...


class _Unobserved:
    def submitted(self, channel: str, result: SubmitResult) -> None:
        pass

    def failed_over(self, channel: str) -> None:
        pass

    def cut_off(self, count: int) -> None:
        pass

    def no_channel(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    batch: int = 256
    window: int = 64
    poll_seconds: float = 1.0
    submit_timeout: float = 30.0
    lease: timedelta = timedelta(minutes=5)
    retry_max_seconds: float = 300.0
    max_attempts: int = 20
    failovers: int = 2
    """How many other channels a message that a channel could not take (Retryable) tries in
    the same round before it goes back on the outbox."""
    registrations_seconds: float = 1.0
    """How long what a round learned of a signature's registered channels is kept: an
    answer recorded by the platform steers the router within this time."""
    gather_seconds: float = 0.005
    """After a wake-up, how long to let more commits join the round: under load every intake
    commit wakes the worker, and a round per commit costs two write transactions for few
    messages. Only delays submits (by at most this), never the API's answer. Not the
    express worker's: a code goes at once."""
    express: bool = False
    """The express worker: claims only items whose rank time has come (verification codes
    first), woken by `DISPATCH_URGENT`, so a code never waits for a bulk round to end."""


class DispatchWorker:
    def __init__(self, store: DispatchStore, router: Router, bus: Bus, clock: Clock,
                 config: DispatchConfig, observer: SubmitObserver | None = None,
                 journal: SubmitJournal | None = None) -> None:
        self._store = store
        self.journal = journal
        self._router = router
        self._observer: SubmitObserver = observer or _Unobserved()
        self._extensions: dict[tuple[AccountId, str], str] = {}
        self._registered: dict[tuple[AccountId, str], tuple[float, frozenset[str]]] = {}
        """(account, signature) -> (known until, channels where it is registered)."""
        self._bus = bus
        self._clock = clock
        self._config = config
        self._topic = DISPATCH_URGENT if config.express else DISPATCH
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
                await self._bus.wait(self._topic, self._config.poll_seconds)
                if (self._config.gather_seconds and not self._config.express
                        and not self._stopping.is_set()):
                    await pause(self._clock, self._config.gather_seconds, self._stopping)

    async def stop(self, grace: float = 10.0) -> None:
        """Let the current round record its outcomes (up to `grace` seconds), then stop."""
        self._stopping.set()
        self._bus.notify(self._topic)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)

    async def run_once(self) -> int:
        """One round: claim, submit, record. Returns how many items were handled."""
        if self._router.standing_by():  # other dispatchers hold the channel's binds
            return 0
        journal = self.journal
        claims, interrupted = await self._store.claim_dispatch(
            self._clock.now(), self._config.batch, self._config.lease, self._config.express,
            journal.claimed if journal is not None else None)
        for message_id in interrupted:
            log.warning("message %s was cut off mid-submit: status unknown", message_id)
        if interrupted:
            self._observer.cut_off(len(interrupted))
        if not claims:
            return len(interrupted)
        await self._learn_extensions(claims)
        if self._router.registering:
            await self._learn_registrations(claims)
        renewing = asyncio.create_task(self._renew(claims), name="dispatch:lease")
        try:
            results = await self._submit_all(claims)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        outcomes = [self._outcome(claim, *answer)
                    for claim, answer in zip(claims, results, strict=True)]
        await self._store.finish_submits(outcomes, self._clock.now(), self._config.express)
        if journal is not None:
            journal.settled()
        for o in outcomes:
            log.debug("message %s -> %s via %s", o.claim.message.id, o.result, o.channel)
        return len(claims) + len(interrupted)

    async def _renew(self, claims: Sequence[Claim]) -> None:
        """While the round submits, extend its claims' lease every third of it, so that
        another dispatcher never takes over the claims of a live round, however long
        (`dispatch_lease_seconds` need only cover a dead dispatcher's wait)."""
        every = self._config.lease.total_seconds() / 3
        while True:
            await self._clock.sleep(every)
            try:
                await self._store.extend_claims(claims, self._clock.now() + self._config.lease)
            except Exception:  # the store is down: the round goes on, try again
                log.exception("could not extend the lease of the round's claims")

    async def _learn_extensions(self, claims: Sequence[Claim]) -> None:
        """The extension codes (signature ids) of the round's signatures not seen before."""
        known = self._extensions
        missing = list({(c.message.account_id, c.message.sign_name) for c in claims} - known.keys())
        if not missing:
            return
        if len(known) > 100_000:
            known.clear()
        found = await self._store.signature_ids(missing)
        for pair in missing:  # a signature gone since: no extension (the uplink fallback)
            known[pair] = str(found[pair]) if pair in found else ""

    async def _learn_registrations(self, claims: Sequence[Claim]) -> None:
        """Where the round's signatures are registered, for those not known lately."""
        known = self._registered
        now = self._clock.monotonic()
        pairs = {(c.message.account_id, c.message.sign_name) for c in claims}
        missing = [p for p in pairs if p not in known or known[p][0] <= now]
        if not missing:
            return
        if len(known) > 100_000:
            known.clear()
        found = await self._store.registered_channels(missing)
        until = now + self._config.registrations_seconds
        for pair in missing:
            known[pair] = (until, found.get(pair, frozenset()))

    async def _submit_all(self, claims: Sequence[Claim]) -> list[_Answer]:
        """Submit every claim with at most `window` in flight, answers in claim order.

        `window` lanes each take the next claim when their last submit is answered: one task
        per lane, not per message, which matters when a round holds hundreds of messages.
        """
        results: list[_Answer] = [("", Ambiguous(""), "", None)] * len(claims)
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

    async def _submit(self, claim: Claim, watch: _Deadline) -> _Answer:
        """Submit one message where the router says, failing over while channels answer
        Retryable; returns the channel, its answer, the router's reasons and when the
        answer came (the message's `submitted_at`: the round records its outcomes later)."""
        message = claim.message
        journal = self.journal
        request = SubmitRequest(message.id, message.phone, message.content, message.segments,
                                extension=self._extensions.get(
                                    (message.account_id, message.sign_name), ""),
                                journal=journal, sign_name=message.sign_name)
        tried: list[str] = []
        reasons: list[str] = []
        learned = self._registered.get((message.account_id, message.sign_name))
        registered = learned[1] if learned is not None else None
        while True:
            decision = self._router.pick(message, tried, registered)
            reasons.append(decision.reason)
            if decision.channel is None:
                self._observer.no_channel()
                last = tried[-1] if tried else ""
                return (last, Retryable("; ".join(reasons), decision.retry_after),
                        _trail(reasons), None)
            channel = decision.channel
            if journal is not None and not channel.journals_sends:
                journal.sending(message.id)  # it cannot tell when its bytes leave
            result = await self._submit_to(channel.name, channel.submit(request), message,
                                           watch)
            self._router.record(channel.name, result)
            self._observer.submitted(channel.name, result)
            if not isinstance(result, Retryable) or len(tried) >= self._config.failovers:
                return channel.name, result, _trail(reasons), self._clock.now()
            self._observer.failed_over(channel.name)
            tried.append(channel.name)
            reasons.append(f"{channel.name} could not take it: {result.reason}")

    async def _submit_to(self, channel: str, submit: Awaitable[SubmitResult], message: Message,
                         watch: _Deadline) -> SubmitResult:
        try:
            return await watch.run(submit)
        except TimeoutError:
            return Ambiguous(f"no answer from channel {channel} within "
                             f"{self._config.submit_timeout:g}s")
        except Exception as exc:  # a bug or a broken connection mid-submit
            log.exception("submit of message %s failed", message.id)
            return Ambiguous(f"channel {channel} failed: {exc}")

    def _outcome(self, claim: Claim, channel: str, result: SubmitResult,
                 route: str, at: datetime | None) -> SubmitOutcome:
        if isinstance(result, Retryable):
            attempts = claim.attempts + 1
            after = min(result.after * 2 ** claim.attempts, self._config.retry_max_seconds)
            result = Retryable(result.reason, after)
            return SubmitOutcome(claim, channel, result,
                                 dead=attempts >= self._config.max_attempts, route=route)
        return SubmitOutcome(claim, channel, result, route=route, at=at)


def _trail(reasons: list[str]) -> str:
    return "; ".join(reasons)[:500]


class _Deadline:
    """The submit timeout of one lane: each submit gets `seconds`, watched by one timer.

    `asyncio.timeout` arms and disarms an event-loop timer per submit, which costs more than
    a fast channel's whole submit. Here each submit only records its deadline; the single
    timer, when it fires, cancels the lane's task if the submit then running is overdue, or
    else re-arms itself for that submit's deadline.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        # A guard against a channel that never answers: the event loop's clock, not the
        # injected `Clock` (domain/ports.py).
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
