"""The policy rules through the Alibaba-compatible API: business refusals answer HTTP 200
with the code (official v4 SDK); in SendBatchSms a refused number is a failed record whose
ErrCode is the code (QuerySendDetails); AddSmsTemplate refuses a promotion without the
opt-out text; promotion hours on a manual clock (requests signed at that clock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.api.aliyun.sdk import Outcome, SdkClient
from tests.api.aliyun.test_rpc_wire import post, signed_query
from tests.conftest import ManualClock, Running, start_running
from yizhan.domain.model import RegistrationKind, TemplateType
from yizhan.domain.timezone import CHINA, china_today
from yizhan.storage.store import SqlStore


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


class Api:
    def __init__(self, running: Running) -> None:
        self.running = running
        port = int(running.base_url.rsplit(":", 1)[1])
        self.sdk = SdkClient("v4-acs3", port, running.demo.key.id, running.demo.key.secret)

    async def call(self, action: str, **params: Any) -> Outcome:
        return await asyncio.to_thread(self.sdk.call, action, **params)

    async def send(self, phones: str, **more: Any) -> Outcome:
        return await self.call("SendSms", **{
            "PhoneNumbers": phones, "SignName": self.running.demo.signature.name,
            "TemplateCode": self.running.verification, "TemplateParam": '{"code":"0207"}',
            **more})

    async def batch(self, phones: list[str], params: list[dict[str, str]]) -> Outcome:
        sign = self.running.demo.signature.name
        return await self.call("SendBatchSms", PhoneNumberJson=json.dumps(phones),
                               SignNameJson=json.dumps([sign] * len(phones)),
                               TemplateCode=self.running.verification,
                               TemplateParamJson=json.dumps(params))

    async def detail(self, phone: str) -> dict[str, Any]:
        day = china_today(self.running.yz.clock.now()).strftime("%Y%m%d")
        found = await self.call("QuerySendDetails", PhoneNumber=phone, SendDate=day,
                                PageSize=10, CurrentPage=1)
        [dto] = found.body["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
        return dto  # type: ignore[no-any-return]


@pytest.fixture
def running_clock() -> ManualClock:
    """The server's clock stands still at the real time (the SDK signs with the real time)
    until a test advances it."""
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def api(running: Running) -> AsyncIterator[Api]:
    yield Api(running)


async def test_segments_single_and_in_a_batch(api: Api) -> None:
    single = await api.send("16512345678")
    assert (single.status, single.code) == (200, "isv.MOBILE_NUMBER_ILLEGAL")
    assert "segment 165 is not supported (virtual operator)" in single.message
    batch = await api.batch(["13800138000", "17112345678"], [{"code": "1"}, {"code": "2"}])
    assert batch.code == "OK"
    refused = await api.detail("17112345678")
    assert (refused["SendStatus"], refused["ErrCode"]) == (2, "isv.MOBILE_NUMBER_ILLEGAL")
    assert (await api.detail("13800138000"))["ErrCode"] != "isv.MOBILE_NUMBER_ILLEGAL"


async def test_international_numbers_in_alibabas_form(api: Api) -> None:
    """Issue 14 point 10: SendSms with country code + national number and no `+` or `00`
    (the form Alibaba documents) is accepted through the official SDK, and QuerySendDetails
    finds the message by the same form; invalid digits stay isv.MOBILE_NUMBER_ILLEGAL."""
    sent = await api.send("85291234560,6591234567,447911123456,84987654321")
    assert (sent.status, sent.code) == (200, "OK"), sent.message
    assert (await api.detail("85291234560"))["PhoneNum"] == "+85291234560"
    for bad in ("85291234", "12025550123"):
        refused = await api.send(bad)
        assert (refused.status, refused.code) == (200, "isv.MOBILE_NUMBER_ILLEGAL"), bad


async def test_keywords_per_number_in_a_batch(api: Api) -> None:
    await api.running.yz.store.add_keywords(None, ["发票"], api.running.yz.clock.now())
    single = await api.send("13800138000", TemplateParam='{"code":"发票"}')
    assert (single.status, single.code) == (200, "isv.BLACK_KEY_CONTROL_LIMIT")
    assert "'发票'" in single.message
    batch = await api.batch(["13800138000", "13900139000"], [{"code": "1"}, {"code": "发票"}])
    assert batch.code == "OK"
    assert (await api.detail("13900139000"))["ErrCode"] == "isv.BLACK_KEY_CONTROL_LIMIT"
    assert (await api.detail("13800138000"))["SendStatus"] != 2
    both = await api.batch(["13800138000", "13900139000"], [{"code": "发票"}, {"code": "发票"}])
    assert both.code == "isv.BLACK_KEY_CONTROL_LIMIT"  # every number refused: the code


async def test_characters_and_country_rules(api: Api) -> None:
    emoji = await api.send("13800138000", TemplateParam='{"code":"😀"}')
    assert emoji.code == "isv.PARAM_NOT_SUPPORT_CHARACTER"
    canada = await api.send("+14162345678")  # Toronto
    assert canada.code == "isv.COUNTRY_REGISTRATION_REQUIRED"
    assert "Canada needs a registered toll-free number" in canada.message
    store, account = api.running.yz.store, api.running.demo.account
    await store.add_registration(account.id, "VN", RegistrationKind.SENDER_ID, "YIZHAN",
                                 api.running.yz.clock.now())
    notification = api.running.demo.templates[TemplateType.NOTIFICATION].code

    async def vietnam() -> Outcome:
        return await api.send("+84987654321", TemplateCode=notification,
                              TemplateParam='{"order":"1"}')

    assert (await vietnam()).code == "isv.COUNTRY_REGISTRATION_REQUIRED"  # cached: none yet
    clock = api.running.yz.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds=1)  # registrations are cached for cache_seconds (1 s)
    assert (await vietnam()).code == "OK"


async def test_add_template_needs_the_opt_out_text_for_promotions(api: Api) -> None:
    refused = await api.call("AddSmsTemplate", TemplateType=2, TemplateName="sale",
                             TemplateContent="全场${d}折", Remark="r")
    assert (refused.status, refused.code) == (200, "isv.PROMOTION_OPT_OUT_MISSING")
    added = await api.call("AddSmsTemplate", TemplateType=2, TemplateName="sale",
                           TemplateContent="全场${d}折，拒收请回复R", Remark="r")
    assert added.code == "OK"
    modified = await api.call("ModifySmsTemplate", TemplateCode=added.body["TemplateCode"],
                              TemplateType=2, TemplateName="sale", TemplateContent="全场${d}折",
                              Remark="r")
    assert modified.code == "isv.PROMOTION_OPT_OUT_MISSING"
    notification = await api.call("AddSmsTemplate", TemplateType=1, TemplateName="n",
                                  TemplateContent="订单${o}已发货", Remark="r")
    assert notification.code == "OK"


async def test_promotion_hours_on_the_rpc_endpoint(store: SqlStore, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 25, 21, 59, 59, tzinfo=CHINA))
    async with start_running(store, tmp_path, clock) as running:
        promotion = running.demo.templates[TemplateType.PROMOTION].code

        async def send() -> dict[str, Any]:
            query = signed_query(running.demo.key.id, running.demo.key.secret, {
                "Action": "SendSms", "PhoneNumbers": "13800138000",
                "SignName": running.demo.signature.name, "TemplateCode": promotion,
                "TemplateParam": '{"discount":"8"}'}, when=clock.now().astimezone(UTC))
            return (await post(running, query)).json()  # type: ignore[no-any-return]

        assert (await send())["Code"] == "OK"
        clock.advance(seconds=1)
        refused = await send()
        assert refused["Code"] == "isv.PROMOTION_TIME_LIMIT"
        assert "it is 22:00:00 China time" in refused["Message"]
