"""The official SDKs against a real Yizhan on loopback: every action, every request-level
error code, and authentication failures, with all three client flavours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.aliyun.sdk import FLAVOURS, Outcome, SdkClient
from tests.conftest import Running, eventually
from yizhan.domain.model import ReviewState, TemplateType


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs send through HTTP(S)_PROXY even to 127.0.0.1 (docs/aliyun.md "Transport and
    parameters")."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=FLAVOURS)
async def sdk(request: pytest.FixtureRequest, running: Running) -> AsyncIterator[Client]:
    port = int(running.base_url.rsplit(":", 1)[1])
    yield Client(SdkClient(request.param, port, running.demo.key.id, running.demo.key.secret),
                 running)


class Client:
    def __init__(self, client: SdkClient, running: Running) -> None:
        self.sdk = client
        self.running = running

    async def call(self, action: str, **params: Any) -> Outcome:
        return await asyncio.to_thread(self.sdk.call, action, **params)

    def send_params(self, **more: Any) -> dict[str, Any]:
        return {"PhoneNumbers": "13800138000", "SignName": self.running.demo.signature.name,
                "TemplateCode": self.running.verification,
                "TemplateParam": '{"code":"0207"}', **more}


async def test_send_sms_then_query_send_details(sdk: Client) -> None:
    sent = await sdk.call("SendSms", **sdk.send_params(OutId="order-1"))
    assert (sent.status, sent.code) == (200, "OK") and sent.body["BizId"].endswith("^0")
    biz_id = sent.body["BizId"]
    store, account = sdk.running.yz.store, sdk.running.demo.account

    async def delivered() -> bool:
        return all(m.status == "success" for m in await store.messages_by_biz(account.id, biz_id))
    await eventually(delivered, what="delivery")
    today = sdk.running.yz.clock.now()
    from yizhan.domain.timezone import china_today
    day = china_today(today).strftime("%Y%m%d")
    details = await sdk.call("QuerySendDetails", PhoneNumber="13800138000", SendDate=day,
                             PageSize=10, CurrentPage=1, BizId=biz_id)
    assert details.code == "OK" and details.body["TotalCount"] == 1
    [dto] = details.body["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
    assert dto["SendStatus"] == 3 and dto["ErrCode"] == "DELIVERED"
    assert dto["Content"] == "【驿站】您的验证码为0207，5分钟内有效，请勿泄露于他人。"
    assert dto["PhoneNum"] == "13800138000" and dto["OutId"] == "order-1"
    assert dto["ReceiveDate"] and dto["SendDate"].startswith(today.strftime("%Y"))
    stats = await sdk.call("QuerySendStatistics", IsGlobe=1, StartDate=day, EndDate=day,
                           PageIndex=1, PageSize=10)
    assert stats.code == "OK"
    [row] = stats.body["Data"]["TargetList"]
    assert row["TotalCount"] == 1 and row["RespondedSuccessCount"] == 1


async def test_send_batch_sms(sdk: Client) -> None:
    sign = sdk.running.demo.signature.name
    sent = await sdk.call("SendBatchSms", PhoneNumberJson='["13800138000","13900139000"]',
                          SignNameJson=f'["{sign}","{sign}"]',
                          TemplateCode=sdk.running.verification,
                          TemplateParamJson='[{"code":"1"},{"code":"2"}]')
    assert sent.code == "OK"
    messages = await sdk.running.yz.store.messages_by_biz(sdk.running.demo.account.id,
                                                          sent.body["BizId"])
    assert [m.content[-20:].split("为")[1][:1] for m in messages] == ["1", "2"]


@pytest.mark.parametrize(("change", "code"), [
    ({"PhoneNumbers": "12345"}, "isv.MOBILE_NUMBER_ILLEGAL"),
    ({"PhoneNumbers": ",".join(["13800138000"] * 1001)}, "isv.MOBILE_COUNT_OVER_LIMIT"),
    ({"SignName": "没有这个签名"}, "isv.SMS_SIGNATURE_ILLEGAL"),
    ({"TemplateCode": "SMS_1"}, "isv.SMS_TEMPLATE_ILLEGAL"),
    ({"TemplateParam": "{}"}, "isv.TEMPLATE_MISSING_PARAMETERS"),
    ({"TemplateParam": '{"code":1234}'}, "isv.INVALID_JSON_PARAM"),
    ({"TemplateParam": "not json"}, "isv.INVALID_JSON_PARAM"),
    ({"TemplateParam": '{"code":"' + "1" * 40 + '"}'}, "isv.PARAM_LENGTH_LIMIT"),
    ({"TemplateParam": '{"code":"http://t.cn/x"}'}, "isv.PARAM_NOT_SUPPORT_URL"),
])
async def test_send_sms_business_errors_are_200_with_the_code(
        sdk: Client, change: dict[str, Any], code: str) -> None:
    outcome = await sdk.call("SendSms", **sdk.send_params(**change))
    assert (outcome.status, outcome.code) == (200, code)
    assert "BizId" not in outcome.body and outcome.message


async def test_missing_parameter_is_a_400(sdk: Client) -> None:
    params = sdk.send_params()
    del params["PhoneNumbers"]
    outcome = await sdk.call("SendSms", **params)
    assert (outcome.status, outcome.code) == (400, "MissingParameter")
    assert '"PhoneNumbers"' in outcome.message


@pytest.mark.parametrize(("params", "code"), [
    ({"SendDate": "2026-11-25"}, "isv.INVALID_PARAMETERS"),
    ({"SendDate": "20200101"}, "isv.INVALID_PARAMETERS"),
    ({"PageSize": 51}, "isv.INVALID_PARAMETERS"),
    ({"PageSize": 0}, "isv.INVALID_PARAMETERS"),
    ({"PhoneNumber": "123"}, "isv.MOBILE_NUMBER_ILLEGAL"),
])
async def test_query_send_details_refusals(sdk: Client, params: dict[str, Any],
                                           code: str) -> None:
    from yizhan.domain.timezone import china_today
    day = china_today(sdk.running.yz.clock.now()).strftime("%Y%m%d")
    base = {"PhoneNumber": "13800138000", "SendDate": day, "PageSize": 10, "CurrentPage": 1}
    outcome = await sdk.call("QuerySendDetails", **{**base, **params})
    assert (outcome.status, outcome.code) == (200, code)


async def test_signature_lifecycle(sdk: Client) -> None:
    store = sdk.running.yz.store
    added = await sdk.call("AddSmsSign", SignName="新签名", SignSource=0, Remark="our brand",
                           SignFileList=[{"FileContents": "aGVsbG8=", "FileSuffix": "jpg"}])
    assert (added.code, added.body["SignName"]) == ("OK", "新签名")
    queried = await sdk.call("QuerySmsSign", SignName="新签名")
    assert queried.body["SignStatus"] == 0
    signature = await store.signature(sdk.running.demo.account.id, "新签名")
    await store.review_signature(signature.id, ReviewState.REJECTED, "trademark missing")
    queried = await sdk.call("QuerySmsSign", SignName="新签名")
    assert (queried.body["SignStatus"], queried.body["Reason"]) == (2, "trademark missing")
    modified = await sdk.call("ModifySmsSign", SignName="新签名", SignSource=5, Remark="tm",
                              SignFileList=[{"FileContents": "aGVsbG8=", "FileSuffix": "jpg"}])
    assert modified.code == "OK"
    assert (await sdk.call("QuerySmsSign", SignName="新签名")).body["SignStatus"] == 0
    listed = await sdk.call("QuerySmsSignList", PageIndex=1, PageSize=10)
    assert {s["SignName"] for s in listed.body["SmsSignList"]} == {"驿站", "新签名"}
    assert (await sdk.call("DeleteSmsSign", SignName="新签名")).code == "OK"
    assert (await sdk.call("QuerySmsSign", SignName="新签名")).code == "isv.SMS_SIGNATURE_ILLEGAL"
    legacy_source = await sdk.call("AddSmsSign", SignName="老来源", SignSource=1, Remark="x",
                                   SignFileList=[{"FileContents": "aGk=", "FileSuffix": "jpg"}])
    assert legacy_source.code == "isv.SMS_SIGN_SOURCE_CLOSED"


async def test_template_lifecycle(sdk: Client) -> None:
    added = await sdk.call("AddSmsTemplate", TemplateType=1, TemplateName="发货通知",
                           TemplateContent="您的订单${order}已发货", Remark="shipping")
    code = added.body["TemplateCode"]
    assert added.code == "OK" and code.startswith("SMS_")
    queried = await sdk.call("QuerySmsTemplate", TemplateCode=code)
    assert (queried.body["TemplateStatus"], queried.body["TemplateType"]) == (0, 1)
    assert queried.body["TemplateContent"] == "您的订单${order}已发货"
    sent = await sdk.call("SendSms", **sdk.send_params(TemplateCode=code,
                                                        TemplateParam='{"order":"1"}'))
    assert sent.code == "isv.SMS_TEMPLATE_ILLEGAL"  # pending review
    modified = await sdk.call("ModifySmsTemplate", TemplateCode=code, TemplateType=1,
                              TemplateName="发货通知", TemplateContent="订单${order}已发出",
                              Remark="shipping")
    assert modified.code == "OK"
    await sdk.running.yz.store.review_template(code, ReviewState.APPROVED)
    listed = await sdk.call("QuerySmsTemplateList", PageIndex=1, PageSize=50)
    assert code in {t["TemplateCode"] for t in listed.body["SmsTemplateList"]}
    assert (await sdk.call("DeleteSmsTemplate", TemplateCode=code)).code == "OK"
    assert (await sdk.call("QuerySmsTemplate", TemplateCode=code)).code == \
        "isv.SMS_TEMPLATE_ILLEGAL"
    approved = sdk.running.demo.templates[TemplateType.NOTIFICATION].code
    refused = await sdk.call("ModifySmsTemplate", TemplateCode=approved, TemplateType=1,
                             TemplateName="x", TemplateContent="y", Remark="z")
    assert refused.code == "isv.INVALID_PARAMETERS"


async def test_template_review_linter_refuses_through_the_sdk(sdk: Client) -> None:
    """AddSmsTemplate and ModifySmsTemplate answer the linter's first refusing finding: its
    code, and a message naming the rule, where, and what to change (docs/compliance.md
    "Template review"); warnings (a zero-width space) do not refuse."""
    no_opt_out = await sdk.call("AddSmsTemplate", TemplateType=2, TemplateName="大促",
                                TemplateContent="全场${d}折", Remark="sale")
    assert no_opt_out.code == "isv.PROMOTION_OPT_OUT_MISSING"
    assert "template.opt_out_missing at 7" in no_opt_out.message
    assert "add 拒收请回复R" in no_opt_out.message
    marketing = await sdk.call("AddSmsTemplate", TemplateType=1, TemplateName="发货",
                               TemplateContent="订单${o}已发货，领取优惠券", Remark="x")
    assert marketing.code == "isv.SMS_CONTENT_ILLEGAL"
    assert "template.marketing at 12" in marketing.message and "优惠券" in marketing.message
    two_variables = await sdk.call("AddSmsTemplate", TemplateType=0, TemplateName="码",
                                   TemplateContent="${name}的验证码${code}", Remark="x")
    assert two_variables.code == "isv.TEMPLATE_PARAMS_ILLEGAL"
    zero_width = await sdk.call("AddSmsTemplate", TemplateType=1, TemplateName="发货",
                                TemplateContent="订单\u200b${o}已发货", Remark="x")
    assert zero_width.code == "OK"  # warned to the reviewer, removed at send
    modified = await sdk.call("ModifySmsTemplate", TemplateCode=zero_width.body["TemplateCode"],
                              TemplateType=1, TemplateName="发货",
                              TemplateContent="订单${订单号}已发货", Remark="x")
    assert modified.code == "isv.TEMPLATE_PARAMS_ILLEGAL"
    assert "template.variable_malformed at 2" in modified.message


async def test_wrong_secret_and_unknown_key(running: Running) -> None:
    port = int(running.base_url.rsplit(":", 1)[1])
    for flavour in FLAVOURS:
        wrong = SdkClient(flavour, port, running.demo.key.id, "not-the-secret")
        outcome = await asyncio.to_thread(wrong.call, "QuerySmsSignList", PageIndex=1,
                                          PageSize=10)
        assert outcome.status == 400, flavour
        # The legacy SDK turns a mismatch whose string to sign equals its own into
        # "InvalidAccessKeySecret" (docs/aliyun.md "Answers"): either is the right answer.
        assert outcome.code in ("SignatureDoesNotMatch", "InvalidAccessKeySecret"), flavour
        unknown = SdkClient(flavour, port, "LTAInobody", "x")
        outcome = await asyncio.to_thread(unknown.call, "QuerySmsSignList", PageIndex=1,
                                          PageSize=10)
        assert (outcome.status, outcome.code) == (404, "InvalidAccessKeyId.NotFound"), flavour


async def test_frequency_limit_is_200_with_the_code_and_alibabas_wording(sdk: Client) -> None:
    assert (await sdk.call("SendSms", **sdk.send_params())).code == "OK"
    outcome = await sdk.call("SendSms", **sdk.send_params())  # a second code in the minute
    assert (outcome.status, outcome.code) == (200, "isv.BUSINESS_LIMIT_CONTROL")
    assert "1 per minute" in outcome.message and "触发分钟级流控Permits:1" in outcome.message
