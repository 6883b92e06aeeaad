"""The pre-flight report on a known population, with the frequency control on: blacklisted,
opted-out and rate-limited numbers, promotion hours, parts, cost against packages and
balance. The report counts nothing: the frequency windows are only read."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from tests.conftest import ManualClock
from yizhan.backends.local import LocalBus
from yizhan.cli.demo import Demo, ensure_demo
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import PhoneNumber, TemplateType
from yizhan.domain.tasks import SendTask, TaskSpec
from yizhan.intake.accept import Acceptance, Intake, SendAccepted, SendRequest
from yizhan.policy.chain import Recipient
from yizhan.policy.flow_control import FrequencyControl
from yizhan.policy.lists import PolicyLists
from yizhan.runtime.batching import Batcher
from yizhan.storage.frequency import FrequencySettings
from yizhan.storage.rate_counters import SqlRateCounter
from yizhan.storage.store import SqlStore
from yizhan.tasks.engine import TaskEngine
from yizhan.tasks.importing import Limits
from yizhan.tasks.preflight import Preflight, PreflightInputs
from yizhan.tasks.service import TaskService

A, B, C = "13800138000", "13900139000", "13300133000"


@dataclass
class Platform:
    store: SqlStore
    clock: ManualClock
    demo: Demo
    intake: Intake
    service: TaskService

    async def task(self, kind: TemplateType, params: dict[str, str],
                   lines: str = f"{A}\n{B}\n{C}\n") -> SendTask:
        task = await self.service.create(
            self.demo.account, TaskSpec(self.demo.signature.name,
                                        self.demo.templates[kind].code, params=params),
            io.BytesIO(lines.encode()), "numbers.txt")
        assert isinstance(task, SendTask), task
        return task

    async def report(self, task: SendTask, **at: float) -> Preflight:
        found = await self.service.preflight(self.demo.account, task.id,
                                             self.clock.now() + timedelta(**at))
        assert isinstance(found, Preflight), found
        return found

    async def code(self, phone: str) -> SendAccepted | Refusal:
        return await self.intake.send(self.demo.account, SendRequest(
            self.demo.templates[TemplateType.VERIFICATION].code,
            [Recipient(phone, self.demo.signature.name, {"code": "1234"})]))


@pytest.fixture
async def platform(store: SqlStore, clock: ManualClock) -> AsyncIterator[Platform]:
    counter = await SqlRateCounter.open(store, 0)
    committer: Batcher[Acceptance] = Batcher("intake", counter.committing(store.accept), clock)
    committer.start()
    profiles = FrequencySettings(store)
    lists = PolicyLists(store, clock, 0)
    intake = Intake(store, committer, clock, IdGenerator(), LocalBus(), lists, part_price=45,
                    frequency=FrequencyControl(counter, profiles, clock))
    service = TaskService(store, store, clock, Limits(),
                          PreflightInputs(lists, counter, store, 45, profiles))
    yield Platform(store, clock, await ensure_demo(store, clock.now()), intake, service)
    await committer.stop()
    await counter.close()


async def test_frequency_is_read_not_counted(platform: Platform) -> None:
    p = platform
    task = await p.task(TemplateType.VERIFICATION, {"code": "1234"})
    assert isinstance(await p.code(A), SendAccepted)  # A: its 1 per minute is used
    for _ in range(2):  # asking twice changes nothing
        report = await p.report(task)
        assert (report.frequency_refused, report.sendable) == (1, 2)
    assert isinstance(await p.code(B), SendAccepted)  # B's quota was not taken by the report
    assert (await p.report(task)).frequency_refused == 2
    assert (await p.report(task, minutes=2)).frequency_refused == 0  # the minute has passed
    # Sent now, A and B are refused as the API would refuse them: failed records.
    await p.service.start(p.demo.account, task.id)
    assert await TaskEngine(p.store, p.intake, p.clock).run_once() == 3
    progress = await p.service.progress(p.demo.account, task.id)
    assert not isinstance(progress, Refusal)
    assert progress.failure_codes == {"isv.BUSINESS_LIMIT_CONTROL": 2}
    assert progress.counts["refused"] == 2 and progress.counts["submitted"] == 1
    again = await p.service.resend_failures(p.demo.account, task.id)  # a limit: retryable
    assert isinstance(again, SendTask) and again.total == 2


async def test_opt_outs_hours_parts_and_cost(platform: Platform) -> None:
    p, account = platform, platform.demo.account
    await p.store.add_opt_out(account.id, p.demo.signature.name, PhoneNumber("+86" + C), "R",
                              p.clock.now())
    await p.store.add_package(account.id, 2, p.clock.now() + timedelta(days=30), p.clock.now())
    await p.store.top_up(account.id, 1000, "test", p.clock.now())
    account = await p.store.account(account.id)
    assert account is not None
    p.demo = replace(p.demo, account=account)
    task = await p.task(TemplateType.PROMOTION, {"discount": "8"},
                        f"{A}\n{B}\n{C}\n85291234567\n")
    report = await p.report(task)
    assert (report.numbers, report.opted_out, report.blacklisted, report.sendable) == (
        4, 1, 0, 3)
    assert report.countries == {"CN": 3, "HK": 1}
    assert report.carriers == {"china_mobile": 2, "china_telecom": 1, "international": 1}
    assert report.promotion and report.within_hours  # 12:00 China time
    assert report.parts_per_message == (1,) and report.parts == 3
    assert (report.package_parts, report.part_price, report.cost) == (2, 45, 45)
    assert report.covered and report.balance == 1000
    late = await p.report(task, hours=11)  # 23:00 China time
    assert not late.within_hours
    assert late.next_start is not None and late.next_start - p.clock.now() == timedelta(hours=20)
