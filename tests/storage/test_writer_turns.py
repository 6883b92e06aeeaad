"""The SQLite writer's turns: acceptance goes before waiting dispatch transactions."""

from __future__ import annotations

import asyncio

from yizhan.storage.store import WriterTurns


class Arrivals:
    """One event per writer, set when it asks for its turn: `turn()` queues the writer in the
    same step, as nothing is awaited in between."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def arrived(self, name: str) -> None:
        self._events.setdefault(name, asyncio.Event()).set()

    async def all(self, *names: str) -> None:
        await asyncio.wait_for(asyncio.gather(
            *(self._events.setdefault(n, asyncio.Event()).wait() for n in names)), 5)


async def test_an_urgent_writer_goes_before_others_that_waited_longer() -> None:
    """issue 14 point 8: a send request's commit waits for the transaction under way only,
    not for the dispatch transactions queued before it."""
    turns = WriterTurns()
    order: list[str] = []
    release = asyncio.Event()
    arrivals = Arrivals()

    async def write(name: str, urgent: bool, hold: asyncio.Event | None = None) -> None:
        arrivals.arrived(name)
        async with turns.turn(urgent):
            order.append(name)
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(write("claim", False, release))
    await arrivals.all("claim")  # the holder has the turn
    waiting = [asyncio.create_task(write("finish", False)),
               asyncio.create_task(write("receipts", False)),
               asyncio.create_task(write("accept", True))]
    await arrivals.all("finish", "receipts", "accept")
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, *waiting), 5)
    assert order == ["claim", "accept", "finish", "receipts"]


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    turns = WriterTurns()
    release = asyncio.Event()
    done: list[str] = []
    arrivals = Arrivals()

    async def write(name: str, hold: asyncio.Event | None = None) -> None:
        arrivals.arrived(name)
        async with turns.turn():
            if hold is not None:
                await hold.wait()
            done.append(name)

    holder = asyncio.create_task(write("first", release))
    await arrivals.all("first")
    gone = asyncio.create_task(write("gone"))
    last = asyncio.create_task(write("last"))
    await arrivals.all("gone", "last")  # both wait in the queue
    gone.cancel()
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, last), 5)
    assert gone.cancelled() and done == ["first", "last"]
