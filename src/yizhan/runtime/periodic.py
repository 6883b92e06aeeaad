"""A job run every few seconds until stopped: the loop of the sweeper and the purge.

Stopping never cancels a job mid-transaction: the loop finishes its round and sees the flag.
A failing job (store briefly unavailable) is logged and tried again next round. The rounds
are paced by the event loop's clock; what a round decides (ages, cut-offs) reads the
injected `Clock`, so tests call the job at the instants they choose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


class Periodic:
    def __init__(self, name: str, job: Callable[[], Awaitable[object]], every: float,
                 log: logging.Logger) -> None:
        self.name = name
        self._job = job
        self._every = every
        self._log = log
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._job()
            except Exception:
                self._log.exception("%s failed; trying again in %gs", self.name, self._every)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every)
