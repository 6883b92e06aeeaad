"""Causes that refuse a call as a whole, so that no record is left (the FAQ's "failed, but no
record"): promotion hours, a signature that does not match its template, a deleted template,
a balance below zero with a package left. The tenant calls through the official SDK; the
diagnosis by number and date reads the refused calls from the API call log
(`diagnosis.inquiry.CallLog`).

Each refused call is found in the running server's own call log (written in batches off
the request path: the tests wait for it), as `yizhan diagnose --phone` and `GET
/v1/diagnosis` find it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.api.aliyun.sdk import Tenant
from tests.api.test_rest import fresh_number
from tests.conftest import Running, eventually
from yizhan.diagnosis.inquiry import Diagnoser, NumberDay
from yizhan.diagnosis.report import number_day_json
from yizhan.domain.model import (
    PhoneNumber,
    ReviewState,
    SignatureScenario,
    TemplateType,
)
from yizhan.domain.ports import Clock, SystemClock
from yizhan.domain.timezone import CHINA, china_today


class LateEvening(SystemClock):
    """Real time moved to 23:00 China time today: past the promotion hours."""

    def __init__(self) -> None:
        now = datetime.now(CHINA)
        self._offset = now.replace(hour=23, minute=0, second=0, microsecond=0) - now

    def now(self) -> datetime:
        return super().now() + self._offset


@pytest.fixture
def running_clock(request: pytest.FixtureRequest) -> Clock:
    return LateEvening() if "promotion" in request.node.name else SystemClock()


async def send_sms(running: Running, number: str, sign: str, template: str,
                   params: str) -> str:
    tenant = Tenant(running, running.demo.key.id, running.demo.key.secret)
    outcome = await tenant.call("SendSms", PhoneNumbers=number, SignName=sign,
                                TemplateCode=template, TemplateParam=params)
    return outcome.code


async def diagnosed(running: Running, number: str) -> NumberDay:
    """The number's day, once the call log has written the call that named it."""
    inquiry = Diagnoser(running.yz.store, calls=running.yz.store)

    async def found() -> NumberDay | None:
        day = await inquiry.by_number(running.demo.account.id, PhoneNumber(f"+86{number}"),
                                      china_today(running.yz.clock.now()))
        return day if day.refused_calls else None
    return await eventually(found, what="the call in the call log")  # type: ignore[no-any-return]


async def test_promotion_hours(running: Running) -> None:
    """Through REST: a signed SDK request would carry the machine's real time, which this
    test's server (moved to 23:00) refuses as a stale timestamp."""
    number, sign = fresh_number(), running.demo.signature.name
    promotion = running.demo.templates[TemplateType.PROMOTION].code
    answer = (await running.client.post("/v1/messages", json={
        "phone_numbers": [number], "sign_name": sign, "template_code": promotion,
        "template_param": {"discount": "8"}})).json()
    code = answer["code"]
    assert code == "isv.PROMOTION_TIME_LIMIT"
    found = await diagnosed(running, number)
    assert found.messages == []  # no record: only the call log knows
    [(_, diagnosis)] = found.refused_calls
    assert (diagnosis.verdict.cause, diagnosis.verdict.side.value) == ("promotion_hours",
                                                                       "platform")
    # the call log keeps the refusal's code, not its words: the verdict explains the code
    assert "8:00~22:00" in diagnosis.verdict.what_zh
    assert "promotion hours" in diagnosis.verdict.what_en
    body = number_day_json(found)
    assert body["call_log"] is True and body["refused_calls"][0]["code"] == code


async def test_signature_and_template_types_do_not_match(running: Running) -> None:
    number, store = fresh_number(), running.yz.store
    await store.create_signature(running.demo.account.id, "验证专用",
                                 SignatureScenario.VERIFICATION, ReviewState.APPROVED,
                                 running.yz.clock.now())
    notification = running.demo.templates[TemplateType.NOTIFICATION].code
    assert await send_sms(running, number, "验证专用", notification,
                          '{"order":"1"}') == "isv.SMS_SIGNATURE_SCENE_ILLEGAL"
    [(_, diagnosis)] = (await diagnosed(running, number)).refused_calls
    assert diagnosis.verdict.cause == "signature_template_mismatch"
    assert diagnosis.verdict.side.value == "tenant"
    assert "验证码场景的签名，请选择验证码模板" in diagnosis.verdict.todo_zh


async def test_deleted_template(running: Running) -> None:
    number, store, now = fresh_number(), running.yz.store, running.yz.clock.now()
    made = await store.create_template(running.demo.account.id, "to delete",
                                       TemplateType.NOTIFICATION, "您的订单${order}已发货。",
                                       ReviewState.APPROVED, now)
    tenant = Tenant(running, running.demo.key.id, running.demo.key.secret)
    deleted = await tenant.call("DeleteSmsTemplate", TemplateCode=made.code)
    assert deleted.code == "OK", deleted.message
    assert await send_sms(running, number, running.demo.signature.name, made.code,
                          '{"order":"1"}') == "isv.SMS_TEMPLATE_ILLEGAL"
    [(_, diagnosis)] = (await diagnosed(running, number)).refused_calls
    assert (diagnosis.verdict.cause, diagnosis.verdict.side.value) == ("template_deleted",
                                                                       "tenant")
    assert diagnosis.facts.template is not None
    assert diagnosis.facts.template_changed_at is not None  # when it was deleted
    assert "需要重新申请签名和模板" in diagnosis.verdict.todo_zh


async def test_balance_below_zero_with_a_package_left(running: Running) -> None:
    number, store, now = fresh_number(), running.yz.store, running.yz.clock.now()
    account = running.demo.account
    balance = (await store.account(account.id)).balance  # type: ignore[union-attr]
    await store.top_up(account.id, -balance - 500, "correction", now)
    await store.add_package(account.id, 100, now + timedelta(days=30), now)
    assert await send_sms(running, number, running.demo.signature.name,
                          running.verification, '{"code":"1"}') == "isv.AMOUNT_NOT_ENOUGH"
    [(_, diagnosis)] = (await diagnosed(running, number)).refused_calls
    assert (diagnosis.verdict.cause, diagnosis.verdict.side.value) == ("balance_below_zero",
                                                                       "tenant")
    assert "packages have 100 parts left" in diagnosis.verdict.what_en
    assert "套餐包有余量但账户余额＜0时无法发送短信" in diagnosis.verdict.what_zh


async def test_without_a_call_log_a_number_without_records_says_so(running: Running) -> None:
    found = await Diagnoser(running.yz.store).by_number(
        running.demo.account.id, PhoneNumber(f"+86{fresh_number()}"),
        china_today(running.yz.clock.now()))
    assert (found.messages, found.refused_calls, found.call_log) == ([], [], False)
