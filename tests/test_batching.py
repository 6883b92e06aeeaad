"""Group commit: concurrent callers share flushes, each is answered after its flush, and a
failed flush fails exactly its callers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from yizhan.runtime.batching import Batcher


async def test_concurrent_submits_share_flushes_and_return_after_them() -> None:
    flushed: list[list[int]] = []

    async def flush(items: Sequence[int]) -> None:
        await asyncio.sleep(0.001)
        flushed.append(list(items))

    batcher = Batcher("t", flush, max_batch=100, max_delay=0.005)
    batcher.start()
    await asyncio.gather(*(batcher.submit([i]) for i in range(250)))
    await batcher.stop()
    assert sorted(i for batch in flushed for i in batch) == list(range(250))
    assert len(flushed) <= 5 and max(len(b) for b in flushed) <= 100


async def test_a_failed_flush_fails_its_callers_only() -> None:
    async def flush(items: Sequence[int]) -> None:
        if 13 in items:
            raise RuntimeError("disk full")

    batcher = Batcher("t", flush, max_batch=1, max_delay=0)
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

    batcher = Batcher("t", flush, max_delay=0.05)
    batcher.start()
    pending = asyncio.create_task(batcher.submit([1, 2]))
    await asyncio.sleep(0)
    await batcher.stop()
    await pending
    assert flushed == [1, 2]
    with pytest.raises(RuntimeError):
        await batcher.submit([3])


async def test_each_caller_gets_the_results_of_its_own_items() -> None:
    async def flush(items: Sequence[int]) -> list[int]:
        return [i * 10 for i in items]

    batcher = Batcher("t", flush, max_delay=0.01)
    batcher.start()
    first, second = await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3]))
    await batcher.stop()
    assert (first, second) == ([10, 20], [30])


async def test_min_interval_spaces_flushes_and_a_lone_item_goes_at_once() -> None:
    loop = asyncio.get_running_loop()
    starts: list[float] = []
    sizes: list[int] = []

    async def flush(items: Sequence[int]) -> None:
        starts.append(loop.time())
        sizes.append(len(items))

    batcher = Batcher("t", flush, max_delay=0, min_interval=0.05)
    batcher.start()
    before = loop.time()
    await batcher.submit([0])  # the first after a quiet spell: no wait
    assert loop.time() - before < 0.04
    # Items trickling in within the interval wait for the next start and share it.
    waiting = []
    for i in range(1, 6):
        waiting.append(asyncio.create_task(batcher.submit([i])))
        await asyncio.sleep(0.005)
    await asyncio.gather(*waiting)
    await batcher.stop()
    assert sizes == [1, 5]
    assert starts[1] - starts[0] >= 0.049


async def test_min_interval_does_not_hold_back_a_full_batch() -> None:
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def flush(items: Sequence[int]) -> None:
        starts.append(loop.time())

    batcher = Batcher("t", flush, max_batch=2, max_delay=0, min_interval=0.5)
    batcher.start()
    await batcher.submit([0])
    await asyncio.gather(*(batcher.submit([i]) for i in range(1, 5)))
    await batcher.stop()
    assert len(starts) == 3 and starts[-1] - starts[0] < 0.25


class HeldFirstFlush:
    """A flush that records its batches and holds the first one until `gate` is set, so
    that the queue fills behind it."""

    def __init__(self) -> None:
        self.flushed: list[list[int]] = []
        self.gate = asyncio.Event()

    async def __call__(self, items: Sequence[int]) -> None:
        self.flushed.append(list(items))
        if len(self.flushed) == 1:
            await self.gate.wait()


async def test_small_entries_go_ahead_of_large_ones_that_still_go_next() -> None:
    flush = HeldFirstFlush()
    flushed, gate = flush.flushed, flush.gate
    batcher = Batcher("t", flush, max_batch=4, max_delay=0, small=2)
    batcher.start()
    first = asyncio.create_task(batcher.submit([0]))
    await asyncio.sleep(0.01)
    large = [asyncio.create_task(batcher.submit([10 * n + i for i in range(5)]))
             for n in (1, 2)]
    await asyncio.sleep(0)
    small = [asyncio.create_task(batcher.submit([n])) for n in (100, 101)]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(first, *large, *small)
    await batcher.stop()
    # The two small entries, queued last, go in the second flush on their own; then the
    # large ones, oldest first.
    assert flushed == [[0], [100, 101], [10, 11, 12, 13, 14], [20, 21, 22, 23, 24]]


async def test_a_large_entry_waits_at_most_one_flush_for_small_ones() -> None:
    flushed: list[list[int]] = []

    async def flush(items: Sequence[int]) -> None:
        flushed.append(list(items))
        await asyncio.sleep(0.005)

    batcher = Batcher("t", flush, max_batch=4, max_delay=0, small=1)
    batcher.start()
    large = asyncio.create_task(batcher.submit([1000, 1001, 1002]))
    smalls = []
    for n in range(30):  # a small entry arrives before every flush
        smalls.append(asyncio.create_task(batcher.submit([n])))
        await asyncio.sleep(0.002)
    await asyncio.gather(large, *smalls)
    await batcher.stop()
    where = next(i for i, batch in enumerate(flushed) if 1000 in batch)
    assert where <= 2, flushed[:4]
    assert sorted(i for batch in flushed for i in batch) == [*range(30), 1000, 1001, 1002]


async def test_without_small_entries_go_in_order() -> None:
    flush = HeldFirstFlush()
    flushed, gate = flush.flushed, flush.gate
    batcher = Batcher("t", flush, max_batch=4, max_delay=0)
    batcher.start()
    first = asyncio.create_task(batcher.submit([0]))
    await asyncio.sleep(0.01)
    rest = [asyncio.create_task(batcher.submit(items)) for items in ([1, 2, 3, 4, 5], [6])]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(first, *rest)
    await batcher.stop()
    assert flushed == [[0], [1, 2, 3, 4, 5], [6]]
