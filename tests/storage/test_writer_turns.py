"""The SQLite writer's turns: acceptance goes before waiting dispatch transactions."""

from __future__ import annotations

import asyncio

from yizhan.storage.store import WriterTurns


async def test_an_urgent_writer_goes_before_others_that_waited_longer() -> None:
    """issue 14 point 8: a send request's commit waits for the transaction under way only,
    not for the dispatch transactions queued before it."""
    turns = WriterTurns()
    order: list[str] = []
    release = asyncio.Event()

    async def write(name: str, urgent: bool, hold: asyncio.Event | None = None) -> None:
        async with turns.turn(urgent):
            order.append(name)
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(write("claim", False, release))
    await asyncio.sleep(0)  # (a scheduling point, no waiting: the holder takes its turn)
    waiting = [asyncio.create_task(write("finish", False)),
               asyncio.create_task(write("receipts", False)),
               asyncio.create_task(write("accept", True))]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holder, *waiting)
    assert order == ["claim", "accept", "finish", "receipts"]


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    turns = WriterTurns()
    release = asyncio.Event()
    done: list[str] = []

    async def write(name: str, hold: asyncio.Event | None = None) -> None:
        async with turns.turn():
            if hold is not None:
                await hold.wait()
            done.append(name)

    holder = asyncio.create_task(write("first", release))
    await asyncio.sleep(0)
    gone = asyncio.create_task(write("gone"))
    last = asyncio.create_task(write("last"))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    await asyncio.gather(holder, last)
    assert gone.cancelled() and done == ["first", "last"]
