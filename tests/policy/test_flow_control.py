"""Frequency control as intake's last step, over a real store and the embedded counter:
which numbers are refused and how, what counts, account settings, explain, and limits that
survive a restart in the middle of a window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ManualClock
from yizhan.backends.local import LocalBus
from yizhan.cli.demo import Demo, ensure_demo
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import Account, Message, MessageStatus, ReviewState, TemplateType
from yizhan.domain.timezone import CHINA
from yizhan.intake.accept import Acceptance, Intake, SendAccepted, SendRequest
from yizhan.policy.chain import Recipient
from yizhan.policy.flow_control import FrequencyControl
from yizhan.policy.lists import PolicyLists
from yizhan.runtime.batching import Batcher
from yizhan.storage.frequency import FrequencySettings
from yizhan.storage.rate_counters import SqlRateCounter
from yizhan.storage.store import SqlStore

CODE = "isv.BUSINESS_LIMIT_CONTROL"


def at_china(day: int, hour: int, minute: int = 0, second: int = 0,
             micro: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, micro, tzinfo=CHINA).astimezone(UTC)


@dataclass
class Platform:
    """Intake with frequency control, as one process wires it (`app.build`)."""

    store: SqlStore
    clock: ManualClock
    demo: Demo
    intake: Intake
    control: FrequencyControl
    counter: SqlRateCounter
    committer: Batcher[Message]

    async def send(self, phones: Sequence[str], type_: TemplateType = TemplateType.VERIFICATION,
                   account: Account | None = None, sign: str | None = None,
                   params: str = '{"code":"1234","order":"1","discount":"8"}',
                   ) -> SendAccepted | Refusal:
        template = self.demo.templates[type_].code
        return await self.intake.send(account or self.demo.account, SendRequest(
            template, [Recipient(p, sign or self.demo.signature.name, params) for p in phones]))

    async def stop(self, clean: bool = True) -> None:
        await self.committer.stop()
        if clean:
            await self.counter.close()


async def start(store: SqlStore, clock: ManualClock) -> Platform:
    demo = await ensure_demo(store, clock.now())
    counter = await SqlRateCounter.open(store, 0)
    committer: Batcher[Acceptance] = Batcher("intake", counter.committing(store.accept), clock)
    committer.start()
    control = FrequencyControl(counter, FrequencySettings(store), clock, ttl=60)
    intake = Intake(store, committer, clock, IdGenerator(), LocalBus(),
                    PolicyLists(store, clock, 0), frequency=control)
    return Platform(store, clock, demo, intake, control, counter, committer)


@pytest.fixture
async def platform(store: SqlStore) -> AsyncIterator[Platform]:
    clock = ManualClock(at_china(25, 11))
    started = await start(store, clock)
    yield started
    await started.stop()


def refused(result: SendAccepted | Refusal) -> Refusal:
    assert isinstance(result, Refusal), result
    return result


def accepted(result: SendAccepted | Refusal) -> SendAccepted:
    assert isinstance(result, SendAccepted), result
    return result


async def test_second_code_in_a_minute_is_refused_naming_the_limit_and_the_reset(
        platform: Platform) -> None:
    platform.clock._now = at_china(25, 11, 20, 5)
    accepted(await platform.send(["13800138000"]))
    platform.clock._now = at_china(25, 11, 20, 59, 999_999)
    refusal = refused(await platform.send(["13800138000"]))
    assert refusal.code == CODE and refusal.rule == "frequency.verification.minute"
    assert refusal.message() == (
        "Frequency control: this number has reached a sending limit; the detail names the "
        "limit and when the number can receive again. (verification codes: same signature "
        "and number, 1 per minute; sends again from 2026-11-25 11:21:00 China time "
        "(触发分钟级流控Permits:1))")
    platform.clock._now = at_china(25, 11, 21)
    accepted(await platform.send(["13800138000"]))


async def test_sixth_code_in_an_hour_waits_for_the_next_clock_hour(platform: Platform) -> None:
    for minute in (0, 10, 20, 30, 58):
        platform.clock._now = at_china(25, 11, minute)
        accepted(await platform.send(["13800138000"]))
    platform.clock._now = at_china(25, 11, 59, 59, 999_999)
    refusal = refused(await platform.send(["13800138000"]))
    assert refusal.rule == "frequency.verification.hour"
    assert "5 per hour; sends again from 2026-11-25 12:00:00" in refusal.detail
    platform.clock._now = at_china(25, 12)
    accepted(await platform.send(["13800138000"]))


async def test_in_a_multi_number_request_a_blocked_number_is_a_failed_record(
        platform: Platform) -> None:
    accepted(await platform.send(["13900139000"]))
    result = accepted(await platform.send(["13800138000", "13900139000", "13700137000"]))
    stored = {m.phone: m for m in await platform.store.messages_by_biz(
        platform.demo.account.id, result.biz_id)}
    blocked = stored["+8613900139000"]
    assert (blocked.status, blocked.error_code) == (MessageStatus.FAILED, CODE)
    assert blocked.reason.startswith("frequency.verification.minute: verification codes")
    assert stored["+8613800138000"].status is MessageStatus.WAITING
    # the trail: every other rule passed or did not apply, the frequency control refused
    assert blocked.policy_trail == "1:+++++++-+" "+--+--+0|0=1"  # minute window: 1 of 1
    assert stored["+8613800138000"].policy_trail == "1:+++++++-+" "+--+--++|"  # a new number
    assert await platform.store.pending_dispatch() == 3  # 1 + the two that passed


async def test_the_same_number_twice_in_one_request_counts_twice(platform: Platform) -> None:
    result = accepted(await platform.send(["13800138000", "+8613800138000"]))
    assert [m.status for m in result.messages] == [MessageStatus.WAITING, MessageStatus.FAILED]


async def test_a_request_refused_for_another_reason_consumes_no_quota(
        platform: Platform) -> None:
    assert refused(await platform.send(["13800138000"], params='{"code":1}')).code == (
        "isv.INVALID_JSON_PARAM")
    accepted(await platform.send(["13800138000"]))


async def test_a_failed_commit_gives_the_quota_back(store: SqlStore) -> None:
    clock = ManualClock(at_china(25, 11))
    platform = await start(store, clock)
    await platform.committer.stop()

    async def broken(batch: Sequence[Message]) -> None:
        raise ConnectionError("database went away")

    platform.committer = Batcher("intake", broken, clock)
    platform.committer.start()
    platform.intake._committer = platform.committer
    with pytest.raises(ConnectionError):
        await platform.send(["13800138000"])
    explained = await platform.control.explain(
        platform.demo.account.id, platform.demo.signature.name,
        platform.demo.templates[TemplateType.VERIFICATION], "+8613800138000")
    assert explained.passes and all(w.count == 0 for w in explained.windows)
    await platform.stop()


async def test_notifications_50_a_day_per_signature_template_and_number(
        platform: Platform) -> None:
    for _ in range(50):
        accepted(await platform.send(["13800138000"], TemplateType.NOTIFICATION))
    refusal = refused(await platform.send(["13800138000"], TemplateType.NOTIFICATION))
    assert refusal.rule == "frequency.notification.day"
    assert "sends again from 2026-11-26 11:00:00" in refusal.detail  # 24 h after the first
    accepted(await platform.send(["13800138000"], TemplateType.PROMOTION))  # another template
    platform.clock._now = at_china(26, 11)
    accepted(await platform.send(["13800138000"], TemplateType.NOTIFICATION))


async def test_international_numbers_20_a_day_whatever_the_template(
        platform: Platform) -> None:
    for _ in range(20):
        accepted(await platform.send(["+6591234567"]))  # verification: no minute limit abroad
    refusal = refused(await platform.send(["+6591234567"], TemplateType.NOTIFICATION))
    assert refusal.rule == "frequency.international.day"


async def test_40_codes_a_day_to_one_number_across_all_accounts(platform: Platform) -> None:
    store, clock = platform.store, platform.clock
    senders = []
    for n in range(4):
        account = await store.create_account(f"tenant{n}", clock.now())
        await store.create_signature(account.id, "商户", "general", ReviewState.APPROVED,
                                     clock.now())
        template = await store.create_template(account.id, "code", TemplateType.VERIFICATION,
                                               "验证码${code}", ReviewState.APPROVED, clock.now())
        senders.append((account, template))
    for n in range(10):  # 10 per account (its own signature's limit), 13 minutes apart
        clock._now = at_china(25, 11) + n * timedelta(minutes=13)
        for account, template in senders:
            accepted(await platform.intake.send(account, SendRequest(
                template.code, [Recipient("13800138000", "商户", '{"code":"1"}')])))
    refusal = refused(await platform.send(["13800138000"]))
    assert refusal.rule == "frequency.verification.number.day"
    assert "same number, all signatures and accounts, 40 per day" in refusal.detail


async def test_an_account_may_lower_its_limits_and_it_applies_at_once(
        platform: Platform) -> None:
    settings = FrequencySettings(platform.store)
    account = platform.demo.account.id
    await settings.set_limit(account, "verification.hour", 2, "test", platform.clock.now())
    platform.control.changed(account)
    for minute in (0, 1):
        platform.clock._now = at_china(25, 11, minute)
        accepted(await platform.send(["13800138000"]))
    platform.clock._now = at_china(25, 11, 2)
    refusal = refused(await platform.send(["13800138000"]))
    assert refusal.rule == "frequency.verification.hour"
    assert "2 per hour (your account's limit)" in refusal.detail
    await settings.set_limit(account, "verification.hour", None, "test", platform.clock.now())
    platform.control.changed(account)
    accepted(await platform.send(["13800138000"]))
    audit = await settings.audit(account)
    assert [(e.actor, e.item, e.old, e.new) for e in audit] == [
        ("test", "limit verification.hour", "2", "platform default"),
        ("test", "limit verification.hour", "platform default", "2")]


async def test_whitelisted_numbers_of_enterprise_accounts_skip_the_platform_limits(
        platform: Platform) -> None:
    settings = FrequencySettings(platform.store)
    account = platform.demo.account.id
    now = platform.clock.now()
    await settings.set_whitelisted(account, "+8613800138000", True, "test", now)
    platform.control.changed(account)
    accepted(await platform.send(["13800138000"]))
    refused(await platform.send(["13800138000"]))  # not enterprise-verified: no exemption
    await settings.verify_enterprise(account, "杭州驿站科技有限公司", "operator", now)
    platform.control.changed(account)
    for _ in range(12):
        accepted(await platform.send(["13800138000"]))
    # The account's own limits still apply to its whitelisted numbers (exempt messages
    # were not counted: the day window holds the one message sent before the exemption).
    await settings.set_limit(account, "verification.day", 3, "test", now)
    platform.control.changed(account)
    accepted(await platform.send(["13800138000"]))
    accepted(await platform.send(["13800138000"]))
    assert refused(await platform.send(["13800138000"])).rule == "frequency.verification.day"
    other = accepted(await platform.send(["13900139000", "13900139000"]))  # platform limits
    assert [m.error_code for m in other.messages] == ["", CODE]


async def test_explain_tells_the_counts_and_the_earliest_pass_and_counts_nothing(
        platform: Platform) -> None:
    template = platform.demo.templates[TemplateType.VERIFICATION]
    name = platform.demo.signature.name
    for minute in (0, 10, 20, 30, 40):
        platform.clock._now = at_china(25, 11, minute)
        accepted(await platform.send(["13800138000"]))
    platform.clock._now = at_china(25, 11, 45)
    for _ in range(3):
        result = await platform.control.explain(platform.demo.account.id, name, template,
                                                "+8613800138000")
    assert not result.passes and result.earliest == at_china(25, 12)
    by_rule = {w.limit.rule.id: w for w in result.windows}
    assert (by_rule["verification.minute"].count, by_rule["verification.hour"].count,
            by_rule["verification.day"].count) == (0, 5, 5)
    assert by_rule["verification.hour"].blocking
    assert by_rule["verification.day"].start == at_china(25, 11)
    assert by_rule["verification.day"].resets_at == at_china(26, 11)
    platform.clock._now = at_china(25, 12)
    fresh = await platform.control.explain(platform.demo.account.id, name, template,
                                           "+8613800138000")
    assert fresh.passes and fresh.earliest == at_china(25, 12)


async def test_limits_survive_a_restart_in_the_middle_of_a_window(store: SqlStore) -> None:
    clock = ManualClock(at_china(25, 11, 10))
    first = await start(store, clock)
    for minute in (10, 20, 30, 40, 50):
        clock._now = at_china(25, 11, minute)
        accepted(await first.send(["13800138000"]))
    await first.stop(clean=False)  # a crash: only what the commits wrote remains
    clock._now = at_china(25, 11, 55)
    second = await start(store, clock)
    try:
        assert refused(await second.send(["13800138000"])).rule == (
            "frequency.verification.hour")
        clock._now = at_china(25, 12)
        accepted(await second.send(["13800138000"]))
        clock._now = at_china(26, 10, 59, 59)  # the day window of 11:10 still holds 6
        for minute in range(4):
            clock._now = at_china(26, 10, 50 + minute)
            accepted(await second.send(["13800138000"]))
        clock._now = at_china(26, 11, 9, 59, 999_999)
        assert refused(await second.send(["13800138000"])).rule == "frequency.verification.day"
    finally:
        await second.stop()
    clock._now = at_china(26, 11, 10)
    third = await start(store, clock)
    try:
        accepted(await third.send(["13800138000"]))
    finally:
        await third.stop()
