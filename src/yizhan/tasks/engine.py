"""The task engine: feeds running send tasks through intake, paced (docs/tasks.md "Sending").

A background stage (`stages.py`), one round at a time (`run_once`). Each round it starts the
scheduled tasks whose time has come, then, per running task: skips a promotion outside
promotion hours (it goes on at 08:00 China time), takes the next pending rows, as many as
the task's rate allows since its last chunk, the chunk size (`chunk`) and the room left
under the outbox bound (`outbox_bound`: a task never fills the dispatch queue, so a
verification code accepted meanwhile waits behind at most that many bulk messages, which
dispatch ranks behind it anyway: domain/priority.py), and sends them as one request
through `Intake.send`, the path every API request takes: the same policy chain, the same
frequency control, refusals recorded as failed messages with their codes, the rows marked
in the transaction that commits their messages (`domain/tasks.TaskChunk`). So a crash loses
and repeats nothing: a restart finds the rows of the last committed chunk marked, the others
pending. A request-level refusal (the signature or template no longer approved, the balance
below zero) pauses the task with its reason; a throttle waits. A task with no pending row
left is finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import orjson

from yizhan.domain.errors import Refusal
from yizhan.domain.model import Account, AccountId, TemplateType
from yizhan.domain.ports import Clock
from yizhan.domain.tasks import SendTask, TaskId, TaskRow, TaskState
from yizhan.intake.accept import SendAccepted, SendRequest
from yizhan.policy.chain import Recipient
from yizhan.policy.quiet_hours import within_promotion_hours

log = logging.getLogger("yizhan.tasks")

STALE_IMPORT = timedelta(hours=1)
"""A task still importing after this long was cut off by a crash (an import takes seconds)."""
WAIT_CODES = frozenset({"Throttling", "isv.TASK_STATE_CONFLICT"})
"""Refusals of a chunk that leave the task as it is: tried again in a later round."""


class EngineStore(Protocol):
    async def due_tasks(self, now: datetime) -> list[SendTask]: ...
    async def pending_rows(self, task_id: TaskId, limit: int) -> list[TaskRow]: ...
    async def change_task_state(self, task_id: TaskId, allowed: Sequence[TaskState],
                                to: TaskState, now: datetime,
                                start_at: datetime | None = None) -> bool: ...
    async def pause_task(self, task_id: TaskId, error: str, now: datetime) -> bool: ...
    async def finish_task(self, task_id: TaskId, now: datetime) -> bool: ...
    async def pending_dispatch(self) -> int: ...
    async def account(self, account_id: AccountId) -> Account | None: ...
    async def drop_stale_imports(self, before: datetime) -> int: ...


class Sender(Protocol):
    async def send(self, account: Account, request: SendRequest,
                   nonce: tuple[str, str] | None = None) -> SendAccepted | Refusal: ...


class TaskEngine:
    def __init__(self, store: EngineStore, intake: Sender, clock: Clock, *,
                 chunk: int = 500, outbox_bound: int = 5000, idle_seconds: float = 1.0,
                 busy_seconds: float = 0.05) -> None:
        """`chunk`: most numbers per request; `outbox_bound`: the engine adds no chunk while
        this many messages wait for dispatch; `idle_seconds`: the pause after a round with
        nothing to send; `busy_seconds` after one that sent."""
        self._store = store
        self._intake = intake
        self._clock = clock
        self._chunk = chunk
        self._bound = outbox_bound
        self._idle = idle_seconds
        self._busy = busy_seconds
        self._paced: dict[TaskId, tuple[float, float]] = {}
        """Per rated task: (allowance in messages, monotonic time it was computed)."""
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._held = False
        """The last round found the outbox at its bound."""

    # The background stage

    async def start(self) -> None:
        dropped = await self._store.drop_stale_imports(self._clock.now() - STALE_IMPORT)
        if dropped:
            log.warning("%d task import(s) cut off by a crash: deleted", dropped)
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="tasks")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            sent = 0
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("task round failed; trying again in %gs", self._idle)
            # A full outbox drains in seconds: look again soon, not after the idle pause.
            await self._wait(self._busy if sent or self._held else self._idle)

    async def _wait(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        for waiter in (sleeper, stopper):
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter

    # One round

    async def run_once(self) -> int:
        """Feed each due task one chunk; returns how many numbers were accepted."""
        now = self._clock.now()
        sent = 0
        self._held = False
        for task in await self._store.due_tasks(now):
            if task.state is TaskState.SCHEDULED:
                if not await self._store.change_task_state(
                        task.id, (TaskState.SCHEDULED,), TaskState.RUNNING, now):
                    continue
                log.info("task %d started (scheduled)", task.id)
            if task.template_type is TemplateType.PROMOTION and not within_promotion_hours(now):
                continue  # promotion hours: it goes on at 08:00 China time
            sent += await self._feed(task, now)
        return sent

    async def _feed(self, task: SendTask, now: datetime) -> int:
        room = self._bound - await self._store.pending_dispatch()
        self._held |= room <= 0
        size = min(self._chunk, room, self._allowance(task))
        if size <= 0:
            return 0
        rows = await self._store.pending_rows(task.id, size)
        if not rows:
            if await self._store.finish_task(task.id, now):
                self._paced.pop(task.id, None)
                log.info("task %d finished", task.id)
            return 0
        account = await self._store.account(task.account_id)
        if account is None:
            return 0
        result = await self._intake.send(account, _request(task, rows))
        if isinstance(result, Refusal):
            if result.code not in WAIT_CODES:
                await self._store.pause_task(task.id, f"{result.code}: {result.detail}", now)
                log.warning("task %d paused: %s", task.id, result.code)
            return 0
        self._spend(task, len(rows))
        return len(rows)

    def _allowance(self, task: SendTask) -> int:
        """Messages the task's rate allows now: a bucket refilled at the rate that holds
        one second's worth (at least one message), so no second sends more than the rate,
        even after a pause; no rate: a chunk."""
        if not task.rate:
            return self._chunk
        now = self._clock.monotonic()
        most = max(task.rate, 1.0)
        allowance, at = self._paced.get(task.id, (most, now))
        allowance = min(allowance + (now - at) * task.rate, most)
        self._paced[task.id] = (allowance, now)
        return int(allowance)

    def _spend(self, task: SendTask, count: int) -> None:
        if task.rate and task.id in self._paced:
            allowance, at = self._paced[task.id]
            self._paced[task.id] = (allowance - count, at)


def _request(task: SendTask, rows: Sequence[TaskRow]) -> SendRequest:
    """One chunk as a send request: the task's values, each row's own from its columns."""
    fixed = task.params
    recipients: list[Recipient] = []
    if any(r.params for r in rows):
        recipients = [Recipient(r.phone, task.sign_name,
                                fixed | orjson.loads(r.params) if r.params else fixed)
                      for r in rows]
    else:
        recipients = [Recipient(r.phone, task.sign_name, fixed) for r in rows]
    return SendRequest(task.template_code, recipients, out_id=task.out_id,
                       max_numbers=len(rows), task=task.id, task_rows=[r.seq for r in rows])
