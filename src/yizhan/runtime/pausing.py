"""A pause on the injected clock that a stop cuts short.

A stage's loop waits between rounds (the push stage's batch delay, the dispatcher's gather
time, the purge's pause, the SMPP channel's reconnect back-off); when the stage is told to
stop meanwhile it has nothing left to finish, so it must not sit out the rest of the pause
(with a test's manual clock, which only moves when the test moves it, it would sit until
the stop's grace period ran out).
"""

from __future__ import annotations

import asyncio

from yizhan.domain.ports import Clock


async def pause(clock: Clock, seconds: float, stopping: asyncio.Event) -> None:
    """Wait `seconds` on `clock`, or until `stopping` is set, whichever comes first."""
    if stopping.is_set():
        return
    sleeping = asyncio.ensure_future(clock.sleep(seconds))
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((sleeping, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeping.cancel()
        stopped.cancel()
