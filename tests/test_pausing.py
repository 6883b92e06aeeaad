"""runtime/pausing.py: a stage's pause between rounds ends when the clock passes it, or at
once when the stage is told to stop (on a manual clock that nobody moves, too)."""

from __future__ import annotations

import asyncio

from tests.conftest import ManualClock
from yizhan.runtime.pausing import pause


async def test_a_pause_ends_when_the_clock_passes_it() -> None:
    clock, stopping = ManualClock(instant=0), asyncio.Event()
    paused = asyncio.create_task(pause(clock, 60, stopping))
    await clock.sleepers(1)
    clock.advance(seconds=59)
    done, _ = await asyncio.wait({paused}, timeout=0.05)
    assert not done
    clock.advance(seconds=1)
    await asyncio.wait_for(paused, 1)


async def test_a_stop_cuts_the_pause_short() -> None:
    clock, stopping = ManualClock(instant=0), asyncio.Event()
    paused = asyncio.create_task(pause(clock, 60, stopping))
    await clock.sleepers(1)
    stopping.set()
    await asyncio.wait_for(paused, 1)  # the clock never moved
    await asyncio.wait_for(pause(clock, 60, stopping), 1)  # and none starts once stopping
