"""Group commit: concurrent callers share flushes, each is answered after its flush, and a
failed flush fails exactly its callers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from yizhan.batching import Batcher


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
