"""The pipeline of one process on one screen: which stages run and how they connect.

    api (intake) --committer--> store: messages + outbox --bus "dispatch"--> DispatchWorker
        --> Router --> Channel --(receipts, uplinks)--> ReceiptStage --> store
        store: push outbox --bus "push"--> PushStage --> tenant URLs   (or the pull API)
    background: PushStage, Sweeper (72-hour rule), Purge (retention)

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
from typing import Any, Protocol

from yizhan.batching import Batcher
from yizhan.dispatch.worker import DispatchWorker
from yizhan.domain.ports import Channel
from yizhan.intake import Acceptance
from yizhan.receipts.correlate import ReceiptStage

log = logging.getLogger("yizhan.stages")


class Recoverable(Protocol):
    async def release_claims(self) -> None: ...


class Background(Protocol):
    """A stage of its own loop: the push stage, the 72-hour sweeper, the retention purge."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Pipeline:
    committer: Batcher[Acceptance]
    receipts: ReceiptStage
    dispatch: DispatchWorker
    channels: Sequence[Channel]
    store: Recoverable
    api_batchers: Sequence[Batcher[Any]] = ()
    """Other group commits the API uses (request nonces), started and stopped with it."""
    dispatching: bool = True
    """Run the delivery stages (dispatch, channels, receipts); off in an API-only process."""
    sole_dispatcher: bool = True
    """Embedded mode: this process is the only dispatcher, so leases left by a previous run
    can be released at once (the messages they cover are resolved as interrupted). With
    several dispatch processes, leases expire instead (5 minutes)."""
    background: Sequence[Background] = ()
    """Delivery stages with loops of their own, started last and stopped first."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        self.committer.start()
        for batcher in self.api_batchers:
            batcher.start()
        if not self.dispatching:
            log.info("stages started: committer (API only)")
            return
        await self.receipts.start()
        for channel in self.channels:
            await channel.start(self.receipts.on_event)
        if self.sole_dispatcher:
            await self.store.release_claims()
        self._tasks.append(asyncio.create_task(self.dispatch.run(), name="dispatch"))
        for stage in self.background:
            await stage.start()
        log.info("stages started: committer, receipts, %d channel(s), dispatch, %d more",
                 len(self.channels), len(self.background))

    async def stop(self) -> None:
        await self.committer.stop()
        for batcher in self.api_batchers:
            await batcher.stop()
        if not self.dispatching:
            return
        for stage in reversed(self.background):
            await stage.stop()
        await self.dispatch.stop()
        for task in self._tasks:
            # The worker leaves its loop once its round is recorded; cancel only a round
            # stuck past the grace period (its messages are then resolved at next start).
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
        for channel in self.channels:
            await channel.stop()
        await self.receipts.stop()
        log.info("stages stopped")
