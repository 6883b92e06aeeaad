"""A send task end to end on SQLite and PostgreSQL: file -> pre-flight -> schedule -> start
-> pause -> resume -> cancel, a crash between chunks, progress and resend, with the clock
driven (no sleeping). The messages go through the real intake and store."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from tests.conftest import ManualClock
from yizhan.backends.local import LocalBus
from yizhan.cli.demo import Demo, ensure_demo
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import (
    AccountStatus,
    BlacklistEntry,
    MessageStatus,
    PhoneNumber,
    TemplateType,
)
from yizhan.domain.tasks import ProgressState, SendTask, TaskSpec, TaskState
from yizhan.intake.accept import Acceptance, Intake
from yizhan.policy.lists import PolicyLists
from yizhan.runtime.batching import Batcher
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import messages, outbox, send_tasks
from yizhan.tasks.engine import TaskEngine
from yizhan.tasks.importing import Limits
from yizhan.tasks.preflight import PreflightInputs, next_promotion_start
from yizhan.tasks.service import TaskService, rejected_csv

NOTICE = "phone,order\n13800138000,A1\n13800138001,A2\n13800138000,A3\n12345,A4\n" \
         "13800138002,A5\n13800138003,A6\n13800138004,A7\n"


@dataclass
class World:
    store: SqlStore
    clock: ManualClock
    demo: Demo
    intake: Intake
    service: TaskService

    def engine(self, chunk: int = 2, bound: int = 1000) -> TaskEngine:
        return TaskEngine(self.store, self.intake, self.clock, chunk=chunk, outbox_bound=bound)

    async def create(self, data: str, template: TemplateType = TemplateType.NOTIFICATION,
                     **spec: object) -> SendTask:
        code = self.demo.templates[template].code
        task = await self.service.create(
            self.demo.account, TaskSpec(self.demo.signature.name, code, "campaign",
                                        **spec),  # type: ignore[arg-type]
            io.BytesIO(data.encode()), "numbers.csv")
        assert isinstance(task, SendTask), task
        return task

    async def counts(self, task: SendTask) -> dict[str, int]:
        progress = await self.service.progress(self.demo.account, task.id)
        assert not isinstance(progress, Refusal)
        return {k.value: v for k, v in progress.counts.items() if v}


@pytest.fixture
async def world(store: SqlStore, clock: ManualClock) -> AsyncIterator[World]:
    committer: Batcher[Acceptance] = Batcher("intake", store.accept, clock)
    committer.start()
    lists = PolicyLists(store, clock, 0)
    intake = Intake(store, committer, clock, IdGenerator(), LocalBus(), lists, part_price=45)
    service = TaskService(store, store, clock, Limits(),
                          PreflightInputs(lists, None, store, part_price=45))
    yield World(store, clock, await ensure_demo(store, clock.now()), intake, service)
    await committer.stop()


async def test_file_preflight_start_pause_resume_cancel(world: World) -> None:
    w, account = world, world.demo.account
    await w.store.add_blacklisted([BlacklistEntry(PhoneNumber("+8613800138001"), (), "test",
                                                  w.clock.now())])
    task = await w.create(NOTICE)
    assert (task.state, task.total, task.rejected, task.duplicates) == (
        TaskState.DRAFT, 5, 2, 1)
    assert task.out_id == f"task-{task.id}"
    rejects = await w.service.rejected_rows(account, task.id)
    assert not isinstance(rejects, Refusal)
    assert rejected_csv(rejects).splitlines() == [
        "line,value,reason", "4,13800138000,duplicate of line 2", "5,12345,invalid number"]

    report = await w.service.preflight(account, task.id)
    assert not isinstance(report, Refusal)
    assert (report.numbers, report.invalid, report.duplicates, report.blacklisted,
            report.sendable) == (5, 1, 1, 1, 4)
    assert report.carriers == {"china_mobile": 5} and report.countries == {"CN": 5}
    assert report.parts_per_message == (1,) and report.parts == 4
    assert (report.cost, report.covered) == (4 * 45, False)  # the demo's balance is 0
    assert report.within_hours and report.next_start is None
    assert await w.store.pending_dispatch() == 0  # nothing sent, nothing queued

    engine = w.engine(chunk=2)
    assert await engine.run_once() == 0  # a draft is not fed
    started = await w.service.start(account, task.id)
    assert isinstance(started, SendTask) and started.state is TaskState.RUNNING
    assert await engine.run_once() == 2  # the blacklisted number: a failed record
    assert await w.counts(task) == {"submitted": 1, "refused": 1, "pending": 3}
    paused = await w.service.pause(account, task.id)
    assert isinstance(paused, SendTask) and paused.state is TaskState.PAUSED
    assert await engine.run_once() == 0
    assert await w.service.resume(account, task.id) is not None
    assert await engine.run_once() == 2
    assert await w.counts(task) == {"submitted": 3, "refused": 1, "pending": 1}
    cancelled = await w.service.cancel(account, task.id)
    assert isinstance(cancelled, SendTask) and cancelled.state is TaskState.CANCELLED
    assert await engine.run_once() == 0
    assert await w.counts(task) == {"submitted": 3, "refused": 1, "cancelled": 1}
    again = await w.service.resume(account, task.id)
    assert isinstance(again, Refusal) and again.code == "isv.TASK_STATE_CONFLICT"
    progress = await w.service.progress(account, task.id)
    assert not isinstance(progress, Refusal)
    assert progress.failure_codes == {"isv.MOBILE_IN_BLACKLIST": 1}
    assert progress.explanations["isv.MOBILE_IN_BLACKLIST"].startswith("The number is")
    # The task's messages are ordinary records, under its OutId, bulk for dispatch.
    results = await w.service.results(account, task.id)
    assert not isinstance(results, Refusal)
    sent = [r for r in results if r.message_id is not None]
    stored = await w.store.messages_by_biz(account.id, sent[0].biz_id)
    assert {m.out_id for m in stored} == {f"task-{task.id}"}
    assert stored[0].content == "【驿站】您的订单A1已发货，请注意查收。"
    page = await w.service.messages(account, task.id, offset=1, limit=2)
    assert not isinstance(page, Refusal)
    assert page[0] == 4 and [m.id for m in page[1]] == [r.message_id for r in sent[1:3]]
    assert await w.store.pending_dispatch() == 3


async def test_a_new_engine_after_a_crash_repeats_and_loses_nothing(world: World) -> None:
    w, account = world, world.demo.account
    task = await w.create(NOTICE)
    await w.service.start(account, task.id)
    assert await w.engine(chunk=2).run_once() == 2
    # The first engine is gone (killed between chunks); a new one on the same store:
    fresh = w.engine(chunk=2)
    while await fresh.run_once():
        pass
    await fresh.run_once()  # no pending row left: finished
    results = await w.service.results(account, task.id)
    assert not isinstance(results, Refusal)
    ids = [r.message_id for r in results]
    assert None not in ids and len(set(ids)) == 5
    found = await w.store.query_messages(account.id, None, w.clock.now() - timedelta(days=1),
                                         w.clock.now() + timedelta(days=1), limit=100)
    assert found[0] == 5
    assert sorted(m.phone for m in found[1]) == sorted({r.phone for r in results})
    done = await w.service.task(account, task.id)
    assert isinstance(done, SendTask) and done.state is TaskState.FINISHED


async def test_a_cancel_between_read_and_commit_sends_nothing(world: World) -> None:
    """The rows are marked only while the task runs, in the accepting transaction."""
    w, account = world, world.demo.account
    task = await w.create(NOTICE)
    await w.service.start(account, task.id)
    engine = w.engine(chunk=5)
    rows = await w.store.pending_rows(task.id, 5)
    await w.service.cancel(account, task.id)
    from yizhan.tasks.engine import _request

    refused = await w.intake.send(account, _request(task, rows))
    assert isinstance(refused, Refusal) and refused.code == "isv.TASK_STATE_CONFLICT"
    assert await engine.run_once() == 0
    assert await w.store.pending_dispatch() == 0


async def test_schedule_rate_and_promotion_hours(world: World) -> None:
    w, account = world, world.demo.account
    numbers = "".join(f"1380013{i:04d}\n" for i in range(10))
    task = await w.create("discount\n" + numbers.replace("\n", ",9\n"),
                          TemplateType.PROMOTION, rate=1.0)
    # 12:00 China now; planned for 23:00 China: outside promotion hours.
    late = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    report = await w.service.preflight(account, task.id, at=late)
    assert not isinstance(report, Refusal)
    assert not report.within_hours
    assert report.next_start == next_promotion_start(late) == datetime(2026, 11, 26, 0, 0,
                                                                       tzinfo=UTC)
    assert report.seconds == 10.0
    naive = await w.service.schedule(account, task.id, late.replace(tzinfo=None))
    assert isinstance(naive, Refusal) and naive.code == "InvalidParameter"
    scheduled = await w.service.schedule(account, task.id, late)
    assert isinstance(scheduled, SendTask) and scheduled.state is TaskState.SCHEDULED
    engine = w.engine(chunk=5)
    assert await engine.run_once() == 0  # not yet
    progress = await w.service.progress(account, task.id)
    assert not isinstance(progress, Refusal) and progress.waiting_until == late
    w.clock.advance(hours=11)  # 23:00 China: started, but promotion hours hold it
    assert await engine.run_once() == 0
    progress = await w.service.progress(account, task.id)
    assert not isinstance(progress, Refusal)
    assert progress.waiting_until == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    current = await w.service.task(account, task.id)
    assert isinstance(current, SendTask) and current.state is TaskState.RUNNING
    w.clock.advance(hours=9)  # 08:00 China: it goes on, at 1 message per second
    assert await engine.run_once() == 1
    assert await engine.run_once() == 0
    w.clock.advance(seconds=3)
    assert await engine.run_once() == 1  # no burst after a wait: one second's worth
    w.clock.advance(seconds=1)
    assert await engine.run_once() == 1
    assert (await w.counts(task))["pending"] == 7


async def test_the_feeder_keeps_the_outbox_under_its_bound(world: World) -> None:
    w, account = world, world.demo.account
    task = await w.create(NOTICE)
    await w.service.start(account, task.id)
    engine = w.engine(chunk=500, bound=3)
    assert await engine.run_once() == 3
    assert await engine.run_once() == 0  # full: waits for dispatch
    assert await w.store.pending_dispatch() == 3


async def test_resend_takes_only_the_retryable_failures(world: World) -> None:
    w, account = world, world.demo.account
    await w.store.add_blacklisted([BlacklistEntry(PhoneNumber("+8613800138001"), (), "test",
                                                  w.clock.now())])
    task = await w.create(NOTICE)
    nothing = await w.service.resend_failures(account, task.id)
    assert isinstance(nothing, Refusal) and nothing.code == "isv.TASK_NOTHING_TO_RESEND"
    await w.service.start(account, task.id)
    engine = w.engine(chunk=10)
    assert await engine.run_once() == 5
    results = await w.service.results(account, task.id)
    assert not isinstance(results, Refusal)
    # The carrier reports one number as undelivered (handset off), another as unknown
    # subscriber (never to be resent); the blacklisted one was refused.
    async with w.store.engine.begin() as conn:
        for row, code in ((results[0], "UNDELIV"), (results[2], "MK:0001")):
            await conn.execute(update(messages).where(messages.c.id == row.message_id)
                               .values(status=MessageStatus.FAILED.value, error_code=code))
    again = await w.service.resend_failures(account, task.id)
    assert isinstance(again, SendTask), again
    assert again.source_task == task.id and again.total == 1 and again.state is TaskState.DRAFT
    rows = await w.store.task_rows(again.id)
    assert [(r.phone, r.params) for r in rows] == [(results[0].phone, '{"order":"A1"}')]
    assert (await w.counts(task))[ProgressState.FAILED.value] == 2
    progress = await w.service.progress(account, task.id)
    assert not isinstance(progress, Refusal)
    assert progress.explanations["UNDELIV"].startswith("undeliverable: the handset was off")


async def test_a_task_chunk_is_bulk_for_dispatch_whatever_its_size(world: World) -> None:
    """Two numbers from a task rank like a 1000-number request: behind verification codes
    (domain/priority.py), so a campaign never delays them."""
    w, account = world, world.demo.account
    task = await w.create(NOTICE)
    await w.service.start(account, task.id)
    assert await w.engine(chunk=2).run_once() == 2
    async with w.store.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.available_at, outbox.c.rank_at))).all()
    assert [r.rank_at - r.available_at for r in rows] == [timedelta(seconds=60)] * 2


async def test_a_refusal_of_the_whole_chunk_pauses_the_task(world: World) -> None:
    """The account suspended after the start: the chunk is refused as a request would be;
    the task pauses with the reason instead of recording every number as failed."""
    w, account = world, world.demo.account
    task = await w.create(NOTICE)
    await w.service.start(account, task.id)
    await w.store.set_account_status(account.id, AccountStatus.SUSPENDED, "test", "ops",
                                     w.clock.now())
    assert await w.engine().run_once() == 0
    paused = await w.service.task(account, task.id)
    assert isinstance(paused, SendTask) and paused.state is TaskState.PAUSED
    assert paused.last_error.startswith("isv.OUT_OF_SERVICE")
    assert await w.counts(task) == {"pending": 5}


async def test_an_import_cut_off_by_a_crash_is_deleted_at_start(world: World) -> None:
    w, account = world, world.demo.account
    kept = await w.create(NOTICE)
    async with w.store.engine.begin() as conn:  # what a crash mid-import leaves
        await conn.execute(insert(send_tasks).values(
            account_id=account.id, name="cut", sign_name="驿站", template_code="x",
            template_type="notification", state="importing", file_name="a.csv", total=1,
            rejected=0, duplicates=0, params="{}", out_id="", created_at=w.clock.now()))
    engine = w.engine()

    async def restart() -> list[str]:
        await engine.start()
        await engine.stop()
        async with w.store.engine.connect() as conn:
            return [r.state for r in await conn.execute(
                select(send_tasks.c.state).order_by(send_tasks.c.id))]

    assert await restart() == ["draft", "importing"]  # it may be under way elsewhere
    w.clock.advance(hours=2)
    assert await restart() == ["draft"]
    assert [t.id for t in await w.service.tasks(account)] == [kept.id]


async def test_two_feeders_on_one_task_send_each_number_once(world: World) -> None:
    """Two engines (two API processes) race on the same rows: the store marks each row for
    one message only, and writes no other."""
    w, account = world, world.demo.account
    task = await w.create(NOTICE)
    await w.service.start(account, task.id)
    first, second = w.engine(chunk=3), w.engine(chunk=3)
    for _ in range(4):
        await asyncio.gather(first.run_once(), second.run_once())
    results = await w.service.results(account, task.id)
    assert not isinstance(results, Refusal)
    assert all(r.message_id is not None for r in results)
    total, _ = await w.store.query_messages(account.id, None, w.clock.now() - timedelta(1),
                                            w.clock.now() + timedelta(1))
    assert total == 5
    assert await w.store.pending_dispatch() == 5


async def test_the_records_of_one_task_are_its_messages_only(world: World) -> None:
    """The records' task filter (the console's): the messages of that task, newest first,
    none of another task's or of the API's."""
    w, account = world, world.demo.account
    first, second = await w.create(NOTICE), await w.create(NOTICE)
    for task in (first, second):
        await w.service.start(account, task.id)
    engine = w.engine(chunk=10)
    while await engine.run_once():
        pass
    day = (w.clock.now() - timedelta(days=1), w.clock.now() + timedelta(days=1))
    for task in (first, second):
        results = await w.service.results(account, task.id)
        assert not isinstance(results, Refusal)
        total, found = await w.store.query_messages(account.id, None, *day, 0, 3,
                                                    task_id=task.id, count_limit=10)
        assert total == 5 and len(found) == 3
        assert {m.id for m in found} <= {r.message_id for r in results}
        assert [(m.created_at, m.id) for m in found] == sorted(
            ((m.created_at, m.id) for m in found), reverse=True)
    total, _ = await w.store.query_messages(account.id, None, *day, task_id=second.id + 1)
    assert total == 0


async def test_what_would_refuse_every_chunk_refuses_the_task(world: World) -> None:
    w = world
    code = w.demo.templates[TemplateType.NOTIFICATION].code
    for spec, expected in ((TaskSpec("驿站", code, params={"order": "http://x.cn"}),
                            "isv.PARAM_NOT_SUPPORT_URL"),
                           (TaskSpec("驿站", code, params={"order": "A"}, out_id="x" * 256),
                            "InvalidParameter"),
                           (TaskSpec("驿站", code, params={"order": "A"}, rate=0),
                            "InvalidParameter"),
                           (TaskSpec("驿站", code, params={"nope": "A"}), "InvalidParameter"),
                           (TaskSpec("无此签名", code), "isv.SMS_SIGNATURE_ILLEGAL")):
        refused = await w.service.create(w.demo.account, spec, io.BytesIO(b"13800138000\n"),
                                         "a.txt")
        assert isinstance(refused, Refusal) and refused.code == expected, (spec, refused)
    assert await w.service.tasks(w.demo.account) == []


def test_next_promotion_start() -> None:
    china = timedelta(hours=8)
    def at(hour: int, minute: int = 0) -> datetime:  # China time, as UTC
        return datetime(2026, 11, 25, hour, minute, tzinfo=UTC) - china
    assert next_promotion_start(at(7, 59)) == at(8)
    assert next_promotion_start(at(12)) == at(12)
    assert next_promotion_start(at(22)) == at(8) + timedelta(days=1)
