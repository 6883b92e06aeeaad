"""A send task in a running Yizhan: the engine is one of its stages, the task's messages go
through dispatch to the carrier, and their receipts show in the task's progress."""

from __future__ import annotations

import io

from tests.conftest import Running, eventually
from yizhan.domain.errors import Refusal
from yizhan.domain.model import TemplateType
from yizhan.domain.tasks import ProgressState, SendTask, TaskSpec, TaskState


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
