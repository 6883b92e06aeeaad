"""Group commit: many callers' items written in one transaction, each caller answered after.

Intake and the receipt stage hand items to a `Batcher` and await the result; one loop drains
whatever has queued (up to `max_batch`, waiting at most `max_delay` for more), calls the
flush function once, then resolves every caller's future with the outcome. `min_interval`
spaces the starts of flushes: under load the items that arrive meanwhile share the next
flush, so a commit's fixed cost (a transaction, an fsync: about a millisecond of CPU on a
small VM) is not paid for one or two requests at a time, while an item that arrives after
a quiet spell is flushed at once. Throughput comes
from sharing one commit (one fsync) between many requests; durability is unchanged because
no caller is answered before the commit returns. A flush may return one result per item
(for example "was this nonce new?"); each caller gets the results of its own items.
With `small`, entries of few items go ahead of large ones in the queue (`_take`); callers
are independent, so the order of their commits is free. Both waits are on the injected clock.
`add` queues items without waiting for their commit (the API call log: nobody awaits it; a
failed flush is logged and its items are lost).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from yizhan.domain.ports import Clock
from yizhan.runtime.pausing import pause

T = TypeVar("T")

log = logging.getLogger("yizhan.runtime.batching")


class Batcher(Generic[T]):
    def __init__(self, name: str,
                 flush: Callable[[Sequence[T]], Awaitable[Sequence[Any] | None]],
                 clock: Clock, *, max_batch: int = 512, max_delay: float = 0.002,
                 min_interval: float = 0.0, small: int = 0) -> None:
        self.name = name
        self._flush = flush
        self._clock = clock
        self._max_batch = max_batch
        self._small = small
        self._passed_over = False
        self._max_delay = max_delay
        self._min_interval = min_interval
        self._last_start = float("-inf")
        self._queue: deque[tuple[Sequence[T], asyncio.Future[list[Any]] | None]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"batcher:{self.name}")

    async def stop(self) -> None:
        """Flush what is queued, then stop."""
        self._closing = True
        self._stopping.set()
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def submit(self, items: Sequence[T]) -> list[Any]:
        """Return once `items` are committed, with the flush's results for them (None each
        when the flush returns none); raise what the commit raised."""
        if self._closing:
            raise RuntimeError(f"{self.name} is stopping")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        self._wakeup.set()
        return await future

    def add(self, items: Sequence[T]) -> None:
        """Queue `items` for the next flush and return at once (nobody learns the outcome)."""
        if self._closing:
            raise RuntimeError(f"{self.name} is stopping")
        self._queue.append((items, None))
        self._wakeup.set()

    def pending(self) -> int:
        """How many entries wait for a flush."""
        return len(self._queue)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if self._max_delay and len(self._queue) < self._max_batch and not self._closing:
                await self._clock.sleep(self._max_delay)  # let more requests join this commit
            self._wakeup.clear()
            while self._queue:
                if self._min_interval:
                    await self._space()
                await self._flush_some()
            if self._closing:
                return

    async def _space(self) -> None:
        """Wait until `min_interval` has passed since the last flush started (not when a
        full batch is waiting or the batcher is stopping)."""
        wait = self._last_start + self._min_interval - self._clock.monotonic()
        if wait > 0 and len(self._queue) < self._max_batch and not self._closing:
            await pause(self._clock, wait, self._stopping)  # a stop flushes at once
        self._last_start = self._clock.monotonic()

    def _take(self) -> list[tuple[Sequence[T], asyncio.Future[list[Any]] | None]]:
        """The entries of the next flush: with `small`, first every queued entry of at most
        `small` items, wherever it waits (up to `max_batch` items of them); then the oldest
        other entry, and more in order while the flush has fewer than `max_batch` items.
        When small entries were found, the others wait for the next flush, but never two
        flushes running, so nothing waits forever. A one-number send queued behind
        1000-number ones so goes in the next commit, a short one of its own, instead of
        after all of them."""
        queue = self._queue
        taken: list[tuple[Sequence[T], asyncio.Future[list[Any]] | None]] = []
        count = 0
        if self._small:
            kept: deque[tuple[Sequence[T], asyncio.Future[list[Any]] | None]] = deque()
            for entry in queue:
                size = len(entry[0])
                if size <= self._small and count + size <= self._max_batch:
                    taken.append(entry)
                    count += size
                else:
                    kept.append(entry)
            self._queue = queue = kept
        if queue and taken and not self._passed_over:
            # Small entries go alone this time; the oldest large one goes next time.
            self._passed_over = True
            return taken
        self._passed_over = False
        if queue:
            entry = queue.popleft()
            taken.append(entry)
            count += len(entry[0])
        while queue and count < self._max_batch:
            entry = queue.popleft()
            taken.append(entry)
            count += len(entry[0])
        return taken

    async def _flush_some(self) -> None:
        taken = self._take()
        items = [item for chunk, _ in taken for item in chunk]
        try:
            results = await self._flush(items)
        except Exception as exc:  # each caller learns of the failure and answers an error
            log.exception("%s: commit of %d items failed", self.name, len(items))
            for _, future in taken:
                if future is not None and not future.done():
                    future.set_exception(exc)
            return
        if results is None:
            results = [None] * len(items)
        start = 0
        for chunk, future in taken:
            if future is not None and not future.done():
                future.set_result(list(results[start:start + len(chunk)]))
            start += len(chunk)
