"""Group commit: concurrent callers share flushes, each is answered after its flush, and a
failed flush fails exactly its callers. The batcher's waits are on the injected clock: the
tests advance a `ManualClock` instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tests.conftest import ManualClock
from yizhan.runtime.batching import Batcher


async def test_concurrent_submits_share_flushes_and_return_after_them() -> None:
    flushed: list[list[int]] = []

    async def flush(items: Sequence[int]) -> None:
        flushed.append(list(items))

    clock = ManualClock(instant=0)
    batcher = Batcher("t", flush, clock, max_batch=100, max_delay=0.005)
    batcher.start()
    early = [asyncio.create_task(batcher.submit([i])) for i in range(30)]
    await clock.sleepers(1)  # the batcher waits max_delay for more to join the commit
    late = [asyncio.create_task(batcher.submit([i])) for i in range(30, 250)]
    clock.advance(seconds=0.004)
    assert not any(t.done() for t in early)
    clock.advance(seconds=0.001)
    await asyncio.wait_for(asyncio.gather(*early, *late), 5)
    await batcher.stop()
    assert sorted(i for batch in flushed for i in batch) == list(range(250))
    assert [len(b) for b in flushed] == [100, 100, 50]


async def test_a_failed_flush_fails_its_callers_only() -> None:
    async def flush(items: Sequence[int]) -> None:
        if 13 in items:
            raise RuntimeError("disk full")

    batcher = Batcher("t", flush, ManualClock(instant=0), max_batch=1, max_delay=0)
    batcher.start()
    results = await asyncio.gather(*(batcher.submit([i]) for i in (12, 13, 14)),
                                   return_exceptions=True)
    await batcher.stop()
    assert results[0] == [None] and results[2] == [None]
    assert isinstance(results[1], RuntimeError)


async def test_stop_flushes_what_is_queued_and_refuses_more() -> None:
    flushed: list[int] = []

    async def flush(items: Sequence[int]) -> None:
        flushed.extend(items)

    clock = ManualClock(instant=0)
    batcher = Batcher("t", flush, clock, max_delay=0.05)
    batcher.start()
    pending = asyncio.create_task(batcher.submit([1, 2]))
    await clock.sleepers(1)
    stopping = asyncio.create_task(batcher.stop())
    clock.advance(seconds=0.05)  # the wait for more items ends; nothing more may join
    await asyncio.wait_for(asyncio.gather(stopping, pending), 5)
    assert flushed == [1, 2]
    with pytest.raises(RuntimeError):
        await batcher.submit([3])


async def test_each_caller_gets_the_results_of_its_own_items() -> None:
    async def flush(items: Sequence[int]) -> list[int]:
        return [i * 10 for i in items]

    clock = ManualClock(instant=0)
    batcher = Batcher("t", flush, clock, max_delay=0.01)
    batcher.start()
    both = asyncio.gather(batcher.submit([1, 2]), batcher.submit([3]))
    await clock.sleepers(1)
    clock.advance(seconds=0.01)
    first, second = await asyncio.wait_for(both, 5)
    await batcher.stop()
    assert (first, second) == ([10, 20], [30])


async def test_min_interval_spaces_flushes_and_a_lone_item_goes_at_once() -> None:
    clock = ManualClock(instant=0)
    starts: list[float] = []
    sizes: list[int] = []

    async def flush(items: Sequence[int]) -> None:
        starts.append(clock.monotonic())
        sizes.append(len(items))

    batcher = Batcher("t", flush, clock, max_delay=0, min_interval=0.05)
    batcher.start()
    await asyncio.wait_for(batcher.submit([0]), 5)  # the first after a quiet spell: no wait
    # Items trickling in within the interval wait for the next start and share it.
    waiting = [asyncio.create_task(batcher.submit([1]))]
    await clock.sleepers(1)
    for i in range(2, 6):
        clock.advance(seconds=0.005)
        waiting.append(asyncio.create_task(batcher.submit([i])))
    clock.advance(seconds=0.029)
    assert not any(t.done() for t in waiting)
    clock.advance(seconds=0.001)
    await asyncio.wait_for(asyncio.gather(*waiting), 5)
    await batcher.stop()
    assert sizes == [1, 5]
    assert starts[1] - starts[0] == pytest.approx(0.05)


async def test_min_interval_does_not_hold_back_a_full_batch() -> None:
    clock = ManualClock(instant=0)
    starts: list[float] = []

    async def flush(items: Sequence[int]) -> None:
        starts.append(clock.monotonic())

    batcher = Batcher("t", flush, clock, max_batch=2, max_delay=0, min_interval=0.5)
    batcher.start()
    await batcher.submit([0])
    # Held back, the second and third flushes would wait for the clock, which stands still.
    await asyncio.wait_for(asyncio.gather(*(batcher.submit([i]) for i in range(1, 5))), 5)
    await batcher.stop()
    assert starts == [1000.0] * 3


class HeldFirstFlush:
    """A flush that records its batches and holds the first one until `gate` is set, so
    that the queue fills behind it (`entered`: the first flush has begun)."""

    def __init__(self) -> None:
        self.flushed: list[list[int]] = []
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def __call__(self, items: Sequence[int]) -> None:
        self.flushed.append(list(items))
        if len(self.flushed) == 1:
            self.entered.set()
            await self.gate.wait()


async def test_small_entries_go_ahead_of_large_ones_that_still_go_next() -> None:
    flush = HeldFirstFlush()
    batcher = Batcher("t", flush, ManualClock(instant=0), max_batch=4, max_delay=0, small=2)
    batcher.start()
    first = asyncio.create_task(batcher.submit([0]))
    await asyncio.wait_for(flush.entered.wait(), 5)
    large = [asyncio.create_task(batcher.submit([10 * n + i for i in range(5)]))
             for n in (1, 2)]
    small = [asyncio.create_task(batcher.submit([n])) for n in (100, 101)]
    # Tasks run in the order they were made: the four submits queue, in this order, before
    # the held flush resumes.
    flush.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *large, *small), 5)
    await batcher.stop()
    # The two small entries, queued last, go in the second flush on their own; then the
    # large ones, oldest first.
    assert flush.flushed == [[0], [100, 101], [10, 11, 12, 13, 14], [20, 21, 22, 23, 24]]


async def test_a_large_entry_waits_at_most_one_flush_for_small_ones() -> None:
    flushed: list[list[int]] = []
    entered, go = asyncio.Event(), asyncio.Event()
    stepping = True

    async def flush(items: Sequence[int]) -> None:
        flushed.append(list(items))
        if stepping:  # each flush lasts until the test has queued the next small entry
            entered.set()
            await go.wait()
            go.clear()

    batcher = Batcher("t", flush, ManualClock(instant=0), max_batch=4, max_delay=0, small=1)
    batcher.start()
    large = asyncio.create_task(batcher.submit([1000, 1001, 1002]))
    smalls = [asyncio.create_task(batcher.submit([0]))]
    for n in range(1, 30):  # a small entry arrives during every flush
        await asyncio.wait_for(entered.wait(), 5)
        entered.clear()
        smalls.append(asyncio.create_task(batcher.submit([n])))
        go.set()  # the flush resumes after the submit above has queued its entry
    await asyncio.wait_for(entered.wait(), 5)
    stepping = False
    go.set()
    await asyncio.wait_for(asyncio.gather(large, *smalls), 5)
    await batcher.stop()
    where = next(i for i, batch in enumerate(flushed) if 1000 in batch)
    assert where <= 2, flushed[:4]
    assert sorted(i for batch in flushed for i in batch) == [*range(30), 1000, 1001, 1002]


async def test_without_small_entries_go_in_order() -> None:
    flush = HeldFirstFlush()
    batcher = Batcher("t", flush, ManualClock(instant=0), max_batch=4, max_delay=0)
    batcher.start()
    first = asyncio.create_task(batcher.submit([0]))
    await asyncio.wait_for(flush.entered.wait(), 5)
    rest = [asyncio.create_task(batcher.submit(items)) for items in ([1, 2, 3, 4, 5], [6])]
    flush.gate.set()  # (the two submits queue before the held flush resumes)
    await asyncio.wait_for(asyncio.gather(first, *rest), 5)
    await batcher.stop()
    assert flush.flushed == [[0], [1, 2, 3, 4, 5], [6]]
