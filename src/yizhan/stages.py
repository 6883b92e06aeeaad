"""The pipeline of one process on one screen: which stages run and how they connect.

    api (intake) --committer--> store: messages + outbox --bus "dispatch"--> DispatchWorker
        (and "dispatch-urgent", for verification codes --> the express DispatchWorker)
        --> Router --> Channel --(receipts, uplinks)--> ReceiptStage --> store
        store: push outbox --bus "push"--> PushStage --> tenant URLs   (or the pull API)
    background: PushStage, Sweeper (72-hour rule), Purge (retention)
    feeders: the send-task engine (running tasks, in chunks, through intake)

Embedded mode runs every stage here in one event loop. `start` brings them up in an order
where nothing can arrive at a stage that is not running yet; `stop` drains them in reverse:
the committer flushes every accepted request, the worker finishes its current round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from yizhan.dispatch.journal import SubmitJournal
from yizhan.dispatch.worker import DispatchWorker
from yizhan.domain.model import MessageId
from yizhan.domain.ports import Channel, EventSink, Unsent
from yizhan.intake.accept import Acceptance
from yizhan.receipts.correlate import ReceiptStage
from yizhan.runtime.batching import Batcher
from yizhan.runtime.metrics import CountingSink, Metrics

log = logging.getLogger("yizhan.stages")


class Recoverable(Protocol):
    async def release_claims(self) -> None: ...
    async def requeue_unsent(self, unsent: Sequence[Unsent]) -> list[MessageId]: ...


async def adopt_orphans(store: Recoverable, folder: Path) -> int:
    """Recover the submit journals in `folder` of dispatchers that died (no process holds
    them; `SubmitJournal.orphans`): their claims that never left go back on the outbox at
    once, for any dispatcher to send. Returns how many were requeued."""
    total = 0
    for journal in SubmitJournal.orphans(folder):
        try:
            requeued = await store.requeue_unsent(journal.left_over())
            journal.restart()
        finally:
            journal.close()
        if requeued:
            log.warning("%d message(s) claimed by a dispatcher that died (%s) never left: "
                        "queued again", len(requeued), journal.path.name)
        total += len(requeued)
    return total


class Background(Protocol):
    """A stage of its own loop: the push stage, the 72-hour sweeper, the retention purge."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class CommitLoop(Protocol):
    """A group-commit loop of the API's (`runtime/batching.Batcher`: the nonces')."""

    def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Pipeline:
    committer: Batcher[Acceptance]
    receipts: ReceiptStage
    dispatch: DispatchWorker
    channels: Sequence[Channel]
    store: Recoverable
    api_batchers: Sequence[CommitLoop] = ()
    """Other group commits the API uses (request nonces), started and stopped with it."""
    api_background: Sequence[Background] = ()
    """Loops the API uses (the backlog readings of backpressure, the call log's writer),
    started with it."""
    feeders: Sequence[Background] = ()
    """Loops that send through intake (the send-task engine, tasks/engine.py): started
    after the committer and stopped before it, so none submits to a stopped commit."""
    express: DispatchWorker | None = None
    """The express worker beside `dispatch` (dispatch/worker.py): verification codes go out
    while a bulk round is in flight. Started and stopped with it; a journal of its own."""
    dispatching: bool = True
    """Run the delivery stages (dispatch, channels, receipts); off in an API-only process."""
    sole_dispatcher: bool = True
    """Embedded mode (role all on the data folder's own store, which one server holds):
    this process is the only dispatcher, so leases left by a previous run can be released
    at once (the messages they cover are resolved as interrupted). On a store other
    processes may dispatch from, leases expire instead (`dispatch_lease_seconds`): releasing
    them would hand a live dispatcher's claims to another. Either way, the claims
    the submit journal shows never left are first put back on the outbox (`_recover`)."""
    background: Sequence[Background] = ()
    """Delivery stages with loops of their own, started last and stopped first."""
    servers: Sequence[Background] = ()
    """Servers the channels connect to (the embedded SMPP simulator): started before the
    channels, stopped after them."""
    metrics: Metrics | None = None
    """Counts receipts and uplinks per channel as they are stored."""
    ready_seconds: float = 5.0
    """How long `start` waits for the channels to bind before dispatching begins."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        self.committer.start()
        for batcher in self.api_batchers:
            batcher.start()
        for loop in self.api_background:
            await loop.start()
        for feeder in self.feeders:
            await feeder.start()
        if not self.dispatching:
            log.info("stages started: committer (API only)")
            return
        await self.receipts.start()
        for server in self.servers:
            await server.start()
        sink: EventSink = self.receipts.on_event
        if self.metrics is not None:
            sink = CountingSink(sink, self.metrics)
        for channel in self.channels:
            await channel.start(sink)
        await self._wait_bound()
        await self._recover()
        if self.sole_dispatcher:
            await self.store.release_claims()
        for worker in self._workers:
            self._tasks.append(asyncio.create_task(worker.run(), name="dispatch"))
        for stage in self.background:
            await stage.start()
        log.info("stages started: committer, receipts, %d channel(s), dispatch, %d more",
                 len(self.channels), len(self.background))

    @property
    def _workers(self) -> list[DispatchWorker]:
        return [self.dispatch] + ([self.express] if self.express is not None else [])

    async def _recover(self) -> None:
        """Requeue what a killed predecessor claimed but never handed to a carrier
        connection (dispatch/journal.py), then start this run's journals afresh."""
        for worker in self._workers:
            journal = worker.journal
            if journal is None:
                continue
            requeued = await self.store.requeue_unsent(journal.left_over())
            if requeued:
                log.warning("%d message(s) claimed before a crash never left: queued again",
                            len(requeued))
            journal.restart()

    async def _wait_bound(self) -> None:
        """Give channels that bind (SMPP) a moment, so that the first messages do not meet
        unbound channels; one that is still not bound then is skipped by the router."""
        waits = [c.wait_ready() for c in self.channels if not c.ready]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), self.ready_seconds)

    async def stop(self) -> None:
        for feeder in reversed(self.feeders):
            await feeder.stop()
        await self.committer.stop()
        for batcher in self.api_batchers:
            await batcher.stop()
        for loop in reversed(self.api_background):
            await loop.stop()
        if not self.dispatching:
            return
        for stage in reversed(self.background):
            await stage.stop()
        await asyncio.gather(*(worker.stop() for worker in self._workers))
        for task in self._tasks:
            # The worker leaves its loop once its round is recorded; cancel only a round
            # stuck past the grace period (its messages are then resolved at next start).
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
        for worker in self._workers:
            if worker.journal is not None:
                # A round cut off above left its journal: the next start reads it.
                worker.journal.close()
                worker.journal = None
        for channel in self.channels:
            await channel.stop()
        for server in reversed(self.servers):
            await server.stop()
        await self.receipts.stop()
        log.info("stages stopped")
