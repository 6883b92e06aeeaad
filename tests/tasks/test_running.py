"""A send task in a running Yizhan: the engine is one of its stages, the task's messages go
through dispatch to the carrier, and their receipts show in the task's progress."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from tests.conftest import Running, eventually, start_running
from yizhan.domain.errors import Refusal
from yizhan.domain.model import TemplateType
from yizhan.domain.ports import SystemClock
from yizhan.domain.tasks import ProgressState, SendTask, TaskSpec, TaskState
from yizhan.storage.store import SqlStore


async def test_a_task_runs_to_delivered(running: Running) -> None:
    service, account = running.yz.tasks, running.demo.account
    assert service is not None
    numbers = "".join(f"1380013{i:04d}\n" for i in range(20))
    task = await service.create(account, TaskSpec(
        running.demo.signature.name, running.demo.templates[TemplateType.NOTIFICATION].code,
        params={"order": "A1"}), io.BytesIO(numbers.encode()), "numbers.txt")
    assert isinstance(task, SendTask), task
    assert isinstance(await service.start(account, task.id), SendTask)

    async def delivered() -> bool:
        progress = await service.progress(account, task.id)
        assert not isinstance(progress, Refusal)
        return progress.counts[ProgressState.DELIVERED] == 20

    await eventually(delivered, what="20 delivered")
    done = await eventually(lambda: _finished(running, task))
    assert done.finished_at is not None
    results = await service.results(account, task.id)
    assert not isinstance(results, Refusal)
    record = await running.yz.store.message(account.id, results[0].message_id or 0)
    assert record is not None and record.out_id == f"task-{task.id}"


async def _finished(running: Running, task: SendTask) -> SendTask | None:
    assert running.yz.tasks is not None
    found = await running.yz.tasks.task(running.demo.account, task.id)
    return found if isinstance(found, SendTask) and found.state is TaskState.FINISHED else None


async def test_a_restart_resumes_a_running_task_where_it_stood(store: SqlStore,
                                                               tmp_path: Path) -> None:
    """Yizhan stops while a paced task is half sent; the next start goes on with the
    numbers not yet submitted: each number gets exactly one message."""
    clock = SystemClock()
    numbers = "".join(f"1380013{i:04d}\n" for i in range(60))
    async with start_running(store, tmp_path, clock, task_chunk_numbers=10) as first:
        service, account = first.yz.tasks, first.demo.account
        assert service is not None
        task = await service.create(account, TaskSpec(
            first.demo.signature.name, first.demo.templates[TemplateType.NOTIFICATION].code,
            params={"order": "A1"}, rate=40.0), io.BytesIO(numbers.encode()), "numbers.txt")
        assert isinstance(task, SendTask), task
        await service.start(account, task.id)
        await eventually(lambda: _sent(first, task, 10), what="a first chunk")
    stopped_with = await _counts(first, task)
    assert 0 < stopped_with[ProgressState.PENDING] < 60
    async with start_running(store, tmp_path, clock) as second:
        await eventually(lambda: _sent(second, task, 60), what="every number")
        phones = [m.phone for m in (await store.query_messages(
            second.demo.account.id, None, clock.now() - timedelta(hours=1),
            clock.now() + timedelta(hours=1), limit=1000))[1]]
    assert len(phones) == len(set(phones)) == 60


async def _counts(running: Running, task: SendTask) -> dict[ProgressState, int]:
    assert running.yz.tasks is not None
    progress = await running.yz.tasks.progress(running.demo.account, task.id)
    assert not isinstance(progress, Refusal)
    return progress.counts


async def _sent(running: Running, task: SendTask, at_least: int) -> bool:
    counts = await _counts(running, task)
    return counts[ProgressState.DELIVERED] + counts[ProgressState.SUBMITTED] >= at_least
