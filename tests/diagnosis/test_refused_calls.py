"""Causes that refuse a call as a whole, so that no record is left (the FAQ's "failed, but no
record"): promotion hours, frequency control of a one-number send, a signature that does not
match its template, a deleted template, a balance below zero with a package left. The tenant
calls through the official SDK; the diagnosis by number and date reads the refused calls from
the API call log (`diagnosis.inquiry.CallLog`).

Each refused call is found in the running server's own call log (written in batches off
the request path: the tests wait for it), as `yizhan diagnose --phone` and `GET
/v1/diagnosis` find it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.api.aliyun.sdk import Tenant
from tests.api.test_rest import fresh_number
from tests.conftest import TEST_MASTER_ENV, Running, eventually
from yizhan.cli.main import app
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
    assert "8:00~22:00" in diagnosis.verdict.what_zh
    assert "promotion hours" in diagnosis.verdict.what_en
    body = number_day_json(found)
    assert body["call_log"] is True and body["refused_calls"][0]["code"] == code
    # the call log keeps the refusal's words too, as the caller got them
    assert body["refused_calls"][0]["message"] == answer["message"]
    assert "08:00" in answer["message"]


async def test_frequency_control_of_a_one_number_send(running: Running, database: str,
                                                      tmp_path: Path) -> None:
    """A one-number send over the limit is refused as a whole: the refused call keeps the
    message the SDK got, which names the limit and when it frees, and the diagnosis by
    number (API and CLI) says when the number can receive again."""
    number, sign = fresh_number(), running.demo.signature.name
    assert await send_sms(running, number, sign, running.verification, '{"code":"1"}') == "OK"
    tenant = Tenant(running, running.demo.key.id, running.demo.key.secret)
    refused = await tenant.call("SendSms", PhoneNumbers=number, SignName=sign,
                                TemplateCode=running.verification, TemplateParam='{"code":"2"}')
    assert refused.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert "sends again from" in refused.message
    found = await diagnosed(running, number)
    [(call, diagnosis)] = found.refused_calls
    assert call.detail == refused.message
    frees = refused.message.partition("sends again from ")[2][:16]  # 2026-12-07 10:01
    assert diagnosis.verdict.cause == "flow_control" and frees in diagnosis.verdict.todo_en

    day = china_today(running.yz.clock.now()).isoformat()
    diagnosed_json = (await running.client.get("/v1/diagnosis", params={
        "phone_number": number, "date": day})).json()
    [shown] = diagnosed_json["refused_calls"]
    assert (shown["code"], shown["message"]) == (refused.code, refused.message)
    listed = (await running.client.get("/v1/calls", params={
        "phone_number": number, "code": refused.code})).json()
    assert [c["message"] for c in listed["calls"]] == [refused.message]
    if database != "sqlite":
        return  # the CLI reads the same store; once is enough
    common = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
              "--data-dir", str(tmp_path)]
    text = await asyncio.to_thread(cli, "diagnose", "--phone", number, "--account",
                                   running.demo.account.name, *common)
    assert f"refused as a whole, code {refused.code}" in text
    assert f"  message    {refused.message}" in text
    assert "verdict: flow_control (side: platform)" in text
    table = await asyncio.to_thread(cli, "calls", "--code", refused.code, "--json", *common)
    assert [c["message"] for c in json.loads(table)] == [refused.message]


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={**TEST_MASTER_ENV, "COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


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
