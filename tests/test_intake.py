"""Intake: request-level checks with their codes, and what an accepted request commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import ManualClock
from yizhan.backends.local import LocalBus
from yizhan.cli.demo import Demo, ensure_demo
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import (
    MessageStatus,
    ReviewState,
    SignatureScenario,
    TemplateType,
)
from yizhan.intake.accept import Acceptance, Intake, SendAccepted, SendRequest
from yizhan.policy import chain, rules, trail
from yizhan.policy.chain import Chain, Recipient, SendContext
from yizhan.policy.lists import PolicyLists
from yizhan.runtime.batching import Batcher
from yizhan.storage.store import SqlStore


@pytest.fixture
async def intake(store: SqlStore, clock: ManualClock) -> AsyncIterator[Intake]:
    committer: Batcher[Acceptance] = Batcher("intake", store.accept, clock)
    committer.start()
    yield Intake(store, committer, clock, IdGenerator(), LocalBus(), PolicyLists(store, clock, 0))
    await committer.stop()


@pytest.fixture
async def demo(store: SqlStore, clock: ManualClock) -> Demo:
    return await ensure_demo(store, clock.now())


def request(demo: Demo, phones: list[str], params: object = '{"code":"0207"}',
            template: str | None = None, sign: str | None = None) -> SendRequest:
    code = template or demo.templates[TemplateType.VERIFICATION].code
    return SendRequest(code, [Recipient(p, sign or demo.signature.name, params)  # type: ignore[arg-type]
                              for p in phones], out_id="order-1")


async def refused(intake: Intake, demo: Demo, req: SendRequest) -> Refusal:
    result = await intake.send(demo.account, req)
    assert isinstance(result, Refusal), result
    return result


async def test_accepted_request_commits_one_message_per_number(
        intake: Intake, demo: Demo, store: SqlStore) -> None:
    result = await intake.send(demo.account, request(demo, ["13800138000", "+8613900139000"]))
    assert isinstance(result, SendAccepted)
    assert result.biz_id.endswith("^0") and len(result.biz_id.split("^")[0]) == 18
    stored = await store.messages_by_biz(demo.account.id, result.biz_id)
    assert [m.phone for m in stored] == ["+8613800138000", "+8613900139000"]
    assert stored[0].content == "【驿站】您的验证码为0207，5分钟内有效，请勿泄露于他人。"
    assert stored[0].segments == 1 and stored[0].out_id == "order-1"
    assert await store.pending_dispatch() == 2


async def test_long_content_counts_parts(intake: Intake, demo: Demo, store: SqlStore,
                                         clock: ManualClock) -> None:
    tpl = await store.create_template(demo.account.id, "long", TemplateType.NOTIFICATION,
                                      "通知" * 40 + "${x}", ReviewState.APPROVED, clock.now())
    result = await intake.send(demo.account, request(demo, ["13800138000"], '{"x":"好"}',
                                                     template=tpl.code))
    assert isinstance(result, SendAccepted)
    assert result.messages[0].segments == 2  # 4 + 80 + 1 characters of UCS-2: 67 per part


async def test_concurrent_requests_share_commits_and_all_land(
        intake: Intake, demo: Demo, store: SqlStore) -> None:
    results = await asyncio.gather(*(intake.send(demo.account, request(demo, ["13800138000"]))
                                     for _ in range(50)))
    assert all(isinstance(r, SendAccepted) for r in results)
    assert len({r.biz_id for r in results if isinstance(r, SendAccepted)}) == 50
    assert await store.pending_dispatch() == 50


@pytest.mark.parametrize(("phones", "code"), [
    (["12345"], "isv.MOBILE_NUMBER_ILLEGAL"),
    (["13800138000", "1380013800a"], "isv.MOBILE_NUMBER_ILLEGAL"),
    (["13800138000"] * 1001, "isv.MOBILE_COUNT_OVER_LIMIT"),
    ([], "MissingParameter"),
])
async def test_number_problems_refuse_the_whole_request(
        intake: Intake, demo: Demo, store: SqlStore, phones: list[str], code: str) -> None:
    assert (await refused(intake, demo, request(demo, phones))).code == code
    assert await store.pending_dispatch() == 0


async def test_signature_must_be_an_approved_one_of_the_account(
        intake: Intake, demo: Demo, store: SqlStore, clock: ManualClock) -> None:
    r = await refused(intake, demo, request(demo, ["13800138000"], sign="别人的签名"))
    assert r.code == "isv.SMS_SIGNATURE_ILLEGAL" and "not found" in r.detail
    await store.create_signature(demo.account.id, "待审核", SignatureScenario.GENERAL,
                                 ReviewState.PENDING, clock.now())
    r = await refused(intake, demo, request(demo, ["13800138000"], sign="待审核"))
    assert r.code == "isv.SMS_SIGNATURE_ILLEGAL" and "pending" in r.detail
    other = await store.create_account("other", clock.now())
    stranger = await ensure_demo(store, clock.now())
    assert stranger.account.id == demo.account.id and other.id != demo.account.id


async def test_template_must_be_an_approved_one_of_the_account(
        intake: Intake, demo: Demo, store: SqlStore, clock: ManualClock) -> None:
    r = await refused(intake, demo, request(demo, ["13800138000"], template="SMS_000000000"))
    assert r.code == "isv.SMS_TEMPLATE_ILLEGAL"
    code = demo.templates[TemplateType.NOTIFICATION].code
    await store.review_template(code, ReviewState.REJECTED, "promotional content")
    r = await refused(intake, demo, request(demo, ["13800138000"], '{"order":"1"}', code))
    assert r.code == "isv.SMS_TEMPLATE_ILLEGAL" and "rejected" in r.detail
    other = await store.create_account("other", clock.now())
    theirs = await store.create_template(other.id, "t", TemplateType.VERIFICATION, "${code}",
                                         ReviewState.APPROVED, clock.now())
    r = await refused(intake, demo, request(demo, ["13800138000"], template=theirs.code))
    assert r.code == "isv.SMS_TEMPLATE_ILLEGAL"


async def test_verification_signature_only_sends_verification_templates(
        intake: Intake, demo: Demo, store: SqlStore, clock: ManualClock) -> None:
    await store.create_signature(demo.account.id, "验证专用", SignatureScenario.VERIFICATION,
                                 ReviewState.APPROVED, clock.now())
    ok = await intake.send(demo.account, request(demo, ["13800138000"], sign="验证专用"))
    assert isinstance(ok, SendAccepted)
    code = demo.templates[TemplateType.NOTIFICATION].code
    r = await refused(intake, demo, request(demo, ["13800138000"], '{"order":"1"}', code,
                                            sign="验证专用"))
    assert r.code == "isv.SMS_SIGNATURE_SCENE_ILLEGAL"


@pytest.mark.parametrize(("params", "code"), [
    ("{}", "isv.TEMPLATE_MISSING_PARAMETERS"),
    (None, "isv.TEMPLATE_MISSING_PARAMETERS"),
    ('{"code":207}', "isv.INVALID_JSON_PARAM"),
    ('{"code":"1"', "isv.INVALID_JSON_PARAM"),
    ('["1"]', "isv.INVALID_JSON_PARAM"),
    ({"code": None}, "isv.INVALID_JSON_PARAM"),
    ('{"code":"' + "9" * 36 + '"}', "isv.PARAM_LENGTH_LIMIT"),
    ('{"code":"see t.cn/x1"}', "isv.PARAM_NOT_SUPPORT_URL"),
    ('{"code":"https://x"}', "isv.PARAM_NOT_SUPPORT_URL"),
    ('{"code":"www.example"}', "isv.PARAM_NOT_SUPPORT_URL"),
])
async def test_template_parameter_problems(intake: Intake, demo: Demo, params: object,
                                           code: str) -> None:
    assert (await refused(intake, demo, request(demo, ["13800138000"], params))).code == code


@pytest.mark.parametrize("value", ["1.5", "v1.2.3", "0207", "张三", "a+b"])
async def test_values_that_are_not_links_pass(intake: Intake, demo: Demo, value: str) -> None:
    result = await intake.send(demo.account, request(demo, ["13800138000"], {"code": value}))
    assert isinstance(result, SendAccepted)


async def test_extra_parameters_are_ignored(intake: Intake, demo: Demo) -> None:
    result = await intake.send(demo.account, request(demo, ["13800138000"],
                                                     {"code": "1", "extra": "x"}))
    assert isinstance(result, SendAccepted)


def _refuse_13900(ctx: SendContext, index: int) -> Refusal | None:
    if ctx.numbers[index].startswith("+86139"):
        return Refusal("isv.MOBILE_NUMBER_ILLEGAL", "139 is blocked here", "test.block")
    return None


BLOCK_139 = Chain(trail.AD_HOC, chain.REQUEST_CHAIN, ["test.block"], {
    **rules.RULES,
    "test.block": rules.NumberRule("test.block", ("isv.MOBILE_NUMBER_ILLEGAL",), _refuse_13900)})


async def test_a_number_refused_by_the_number_chain_fails_alone(
        store: SqlStore, clock: ManualClock, demo: Demo) -> None:
    committer: Batcher[Acceptance] = Batcher("intake", store.accept, clock)
    committer.start()
    intake = Intake(store, committer, clock, IdGenerator(), LocalBus(),
                    PolicyLists(store, clock, 0), policy=BLOCK_139)
    try:
        result = await intake.send(demo.account, request(demo, ["13800138000", "13900139000"]))
        assert isinstance(result, SendAccepted)
        stored = {m.phone: m for m in await store.messages_by_biz(demo.account.id,
                                                                  result.biz_id)}
        failed = stored["+8613900139000"]
        assert failed.status is MessageStatus.FAILED
        assert failed.error_code == "isv.MOBILE_NUMBER_ILLEGAL"
        assert failed.reason == "test.block: 139 is blocked here"
        assert stored["+8613800138000"].status is MessageStatus.WAITING
        # each stored with its trail: the request rules, then the chain's one number rule
        assert failed.policy_trail == "0:+++++++-+0"
        assert stored["+8613800138000"].policy_trail == "0:+++++++-++"
        assert await store.pending_dispatch() == 1  # the refused number is never dispatched

        alone = await intake.send(demo.account, request(demo, ["13900139000"]))
        assert isinstance(alone, Refusal) and alone.rule == "test.block"
    finally:
        await committer.stop()


async def test_messages_carry_the_part_price_and_a_negative_balance_refuses(
        store: SqlStore, clock: ManualClock, demo: Demo) -> None:
    committer: Batcher[Acceptance] = Batcher("intake", store.accept, clock)
    committer.start()
    intake = Intake(store, committer, clock, IdGenerator(), LocalBus(),
                    PolicyLists(store, clock, 0), part_price=45)
    try:
        platform = await intake.send(demo.account, request(demo, ["13800138000"]))
        assert isinstance(platform, SendAccepted) and platform.messages[0].part_price == 45
        await store.set_part_price(demo.account.id, 30)
        own = await store.account(demo.account.id)
        assert own is not None
        result = await intake.send(own, request(demo, ["13800138000"]))
        assert isinstance(result, SendAccepted) and result.messages[0].part_price == 30
        await store.top_up(demo.account.id, -1, "", clock.now())
        broke = await store.account(demo.account.id)
        assert broke is not None
        assert broke.balance == -1  # the account as the API's cache gives it to intake
        refusal = await intake.send(broke, request(demo, ["13800138000"]))
        assert isinstance(refusal, Refusal) and refusal.code == "isv.AMOUNT_NOT_ENOUGH"
        assert refusal.rule == "account.balance"
    finally:
        await committer.stop()
