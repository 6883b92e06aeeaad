"""In-process implementations for the embedded mode: the wake-up bus between stages.

The items themselves are in the store's outbox; the bus only saves a stage from waiting for
its next poll. Other processes sharing the store still see the items at their next poll.
"""

from __future__ import annotations

import asyncio
import contextlib


class LocalBus:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def _event(self, topic: str) -> asyncio.Event:
        return self._events.setdefault(topic, asyncio.Event())

    def notify(self, topic: str) -> None:
        self._event(topic).set()

    async def wait(self, topic: str, timeout: float) -> None:
        event = self._event(topic)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()
