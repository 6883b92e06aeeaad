"""The newer template actions through the official v4 SDK against a running Yizhan, on both
stores: CreateSmsTemplate, GetSmsTemplate, GetSmsTemplateList, UpdateSmsTemplate, the review
linter as AddSmsTemplate runs it, the related signature, the variable attributes, paging,
and the operator's decision reaching the pull queue (docs/compliance.md "Template actions")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.api.aliyun.sdk import Tenant
from tests.api.test_push_api import _common
from tests.conftest import TEST_MASTER_ENV, Running, opened_store
from yizhan.cli.main import app
from yizhan.domain.model import ReviewState, SignatureScenario, TemplateApplication, TemplateType


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def flavour() -> str:
    """The v4 SDK's default signing; the lifecycle runs with HMAC-SHA1 (v4-v1) too. The
    legacy SDK has no newer template actions."""
    return "v4-acs3"


@pytest.fixture
async def demo(running: Running, flavour: str) -> AsyncIterator[Tenant]:
    yield Tenant(running, running.demo.key.id, running.demo.key.secret, flavour)


def shipping(running: Running, **more: Any) -> dict[str, Any]:
    return {"TemplateType": 1, "TemplateName": "发货通知",
            "TemplateContent": "您的订单${order}已发货", "Remark": "shipping notices",
            "RelatedSignName": running.demo.signature.name,
            "TemplateRule": '{"order":"other_number2"}',
            "ApplySceneContent": "https://shop.example.com/orders", **more}


@pytest.mark.parametrize("flavour", ["v4-acs3", "v4-v1"])
async def test_create_get_list_update_review(running: Running, demo: Tenant) -> None:
    store, now = running.yz.store, running.yz.clock.now()
    created = await demo.call("CreateSmsTemplate", **shipping(running))
    code = created.body["TemplateCode"]
    assert (created.code, created.body["TemplateName"]) == ("OK", "发货通知")
    assert code.startswith("SMS_") and created.body["OrderId"]

    got = (await demo.call("GetSmsTemplate", TemplateCode=code)).body
    assert (got["TemplateStatus"], got["TemplateType"], got["TemplateContent"],
            got["RelatedSignName"], got["VariableAttribute"], got["ApplyScene"],
            got["Remark"]) == ("0", "1", "您的订单${order}已发货", running.demo.signature.name,
                               '{"order":"other_number2"}', "https://shop.example.com/orders",
                               "shipping notices")
    assert got["AuditInfo"] == {"RejectInfo": "", "AuditDate": ""} and got["CreateDate"]

    pending = (await demo.call("GetSmsTemplateList", AuditStatus=0)).body["Data"]
    assert pending["Total"] == 1
    assert (pending["List"][0]["TemplateCode"], pending["List"][0]["SignName"],
            pending["List"][0]["AuditStatus"]) == (code, running.demo.signature.name, 0)

    await store.review_template(code, ReviewState.REJECTED, "缺少业务场景说明", now)
    got = (await demo.call("GetSmsTemplate", TemplateCode=code)).body
    assert got["TemplateStatus"] == "2" and got["AuditInfo"]["RejectInfo"] == "缺少业务场景说明"
    assert got["AuditInfo"]["AuditDate"]

    updated = await demo.call("UpdateSmsTemplate", **shipping(
        running, TemplateCode=code, TemplateContent="订单${order}已由${carrier}发出",
        TemplateRule='{"order":"other_number2","carrier":"name"}'))
    assert (updated.code, updated.body["TemplateCode"]) == ("OK", code)
    got = (await demo.call("GetSmsTemplate", TemplateCode=code)).body
    assert (got["TemplateStatus"], got["TemplateContent"], got["AuditInfo"]["RejectInfo"]) == (
        "0", "订单${order}已由${carrier}发出", "")
    assert got["VariableAttribute"] == '{"order":"other_number2","carrier":"name"}'
    # the older ModifySmsTemplate changes the text and keeps what CreateSmsTemplate added
    assert (await demo.call("ModifySmsTemplate", TemplateCode=code, TemplateType=1,
                            TemplateName="发货通知", Remark="shipping notices",
                            TemplateContent="订单${order}已由${carrier}发出")).code == "OK"
    got = (await demo.call("GetSmsTemplate", TemplateCode=code)).body
    assert (got["RelatedSignName"], got["ApplyScene"]) == (
        running.demo.signature.name, "https://shop.example.com/orders")

    # the operator's approval, as `yizhan templates approve` runs it
    await store.review_template(code, ReviewState.APPROVED, "", now)
    got = (await demo.call("GetSmsTemplate", TemplateCode=code)).body
    assert got["TemplateStatus"] == "1"
    approved = await demo.call("UpdateSmsTemplate", **shipping(running, TemplateCode=code))
    assert approved.code == "isv.INVALID_PARAMETERS"
    sent = await demo.call("SendSms", PhoneNumbers="13800138000",
                           SignName=running.demo.signature.name, TemplateCode=code,
                           TemplateParam='{"order":"A1","carrier":"顺丰"}')
    assert sent.code == "OK"


async def test_the_review_linter_refuses_as_in_add_sms_template(running: Running,
                                                                demo: Tenant) -> None:
    no_opt_out = await demo.call("CreateSmsTemplate", **shipping(
        running, TemplateType=2, TemplateName="大促", TemplateContent="全场${d}折",
        TemplateRule='{"d":"other_number2"}'))
    assert no_opt_out.code == "isv.PROMOTION_OPT_OUT_MISSING"
    assert "template.opt_out_missing at 7" in no_opt_out.message
    code = (await demo.call("CreateSmsTemplate", **shipping(running))).body["TemplateCode"]
    malformed = await demo.call("UpdateSmsTemplate", **shipping(
        running, TemplateCode=code, TemplateContent="订单${订单号}已发货", TemplateRule=""))
    assert malformed.code == "isv.TEMPLATE_PARAMS_ILLEGAL"


async def test_the_related_signature_and_the_variable_rule_are_checked(
        running: Running, demo: Tenant) -> None:
    store, now = running.yz.store, running.yz.clock.now()
    other = await store.create_account("other", now)
    await store.create_signature(other.id, "别家", SignatureScenario.GENERAL,
                                 ReviewState.APPROVED, now)
    await store.create_signature(running.demo.account.id, "新店", SignatureScenario.GENERAL,
                                 ReviewState.PENDING, now)
    for sign in ("别家", "新店", "没有"):
        refused = await demo.call("CreateSmsTemplate", **shipping(running, RelatedSignName=sign))
        assert refused.code == "isv.SMS_RELATED_SIGN_ILLEGAL", sign
    missing = await demo.call("CreateSmsTemplate", **shipping(running, RelatedSignName=""))
    assert (missing.status, missing.code) == (400, "MissingParameter")
    assert "RelatedSignName" in missing.message

    not_object = await demo.call("CreateSmsTemplate", **shipping(running, TemplateRule="[1]"))
    assert not_object.code == "isv.INVALID_PARAMETERS" and "JSON object" in not_object.message
    unknown = await demo.call("CreateSmsTemplate", **shipping(
        running, TemplateRule='{"order":"x","amount":"money"}'))
    assert unknown.code == "isv.INVALID_PARAMETERS" and "amount" in unknown.message


async def test_the_template_rule_is_required_and_its_kinds_checked(running: Running,
                                                                   demo: Tenant) -> None:
    two = "订单${order}已由${carrier}发出"
    for verb, more in (("CreateSmsTemplate", {}), ("UpdateSmsTemplate", {"TemplateCode": (
            await demo.call("CreateSmsTemplate", **shipping(running))).body["TemplateCode"]})):
        missing = await demo.call(verb, **shipping(running, TemplateContent=two,
                                                   TemplateRule="", **more))
        assert (missing.code, "order, carrier" in missing.message) == ("MissingParameter", True)
        partly = await demo.call(verb, **shipping(running, TemplateContent=two, **more))
        assert partly.code == "isv.INVALID_PARAMETERS" and "carrier" in partly.message
        wrong = await demo.call(verb, **shipping(
            running, TemplateContent=two, TemplateRule='{"order":"money","carrier":"other"}',
            **more))
        assert wrong.code == "isv.INVALID_PARAMETERS" and "carrier=other" in wrong.message
        unknown = await demo.call(verb, **shipping(
            running, TemplateRule='{"order":"other_number2","x":"name"}', **more))
        assert unknown.code == "isv.INVALID_PARAMETERS" and ": x" in unknown.message
    # a text without variables needs no rule
    plain = await demo.call("CreateSmsTemplate", **shipping(
        running, TemplateContent="您的订单已发货", TemplateRule=""))
    assert plain.code == "OK"
    rule = '{"order":"other_number2","carrier":"name","day":"time","fee":"money"}'
    good = await demo.call("CreateSmsTemplate", **shipping(
        running, TemplateContent="订单${order}由${carrier}于${day}发出，运费${fee}元",
        TemplateRule=rule))
    assert good.code == "OK"
    got = (await demo.call("GetSmsTemplate", TemplateCode=good.body["TemplateCode"])).body
    assert got["VariableAttribute"] == rule

    # international: no related signature needed, IntlType is
    intl = {"TemplateType": 3, "TemplateName": "Shipping",
            "TemplateContent": "Your order ${order} has shipped", "Remark": "intl",
            "TemplateRule": '{"order":"other_number2"}'}
    no_intl_type = await demo.call("CreateSmsTemplate", **intl)
    assert (no_intl_type.code, "IntlType" in no_intl_type.message) == ("MissingParameter", True)
    created = await demo.call("CreateSmsTemplate", **intl, IntlType=0)
    got = (await demo.call("GetSmsTemplate",
                           TemplateCode=created.body["TemplateCode"])).body
    assert (got["TemplateType"], got["IntlType"], got["RelatedSignName"]) == ("3", 0, "")


async def test_the_list_pages_and_filters(running: Running, demo: Tenant) -> None:
    for n in range(3):
        assert (await demo.call("CreateSmsTemplate", **shipping(
            running, TemplateName=f"发货{n}"))).code == "OK"
    everything = (await demo.call("GetSmsTemplateList", PageSize=50)).body["Data"]
    total = everything["Total"]
    assert total == len(everything["List"]) == len(running.demo.templates) + 3
    seen: list[str] = []
    for page in range(1, (total + 1) // 2 + 1):
        data = (await demo.call("GetSmsTemplateList", PageIndex=page, PageSize=2)).body["Data"]
        assert (data["PageNo"], data["PageSize"], data["Total"]) == (page, 2, total)
        seen += [t["TemplateCode"] for t in data["List"]]
    assert seen == [t["TemplateCode"] for t in everything["List"]]
    notices = (await demo.call("GetSmsTemplateList", TemplateType=1, AuditStatus=0)).body
    assert [t["TemplateName"] for t in notices["Data"]["List"]] == ["发货0", "发货1", "发货2"]
    too_big = await demo.call("GetSmsTemplateList", PageSize=51)
    assert too_big.code == "isv.INVALID_PARAMETERS"


async def test_the_list_filters_as_the_sdk_documents_them(running: Running,
                                                          demo: Tenant) -> None:
    store, now = running.yz.store, running.yz.clock.now()
    await store.create_signature(running.demo.account.id, "二店", SignatureScenario.GENERAL,
                                 ReviewState.APPROVED, now)
    first = (await demo.call("CreateSmsTemplate", **shipping(
        running, TemplateName="发货通知_100%"))).body["TemplateCode"]
    second = (await demo.call("CreateSmsTemplate", **shipping(
        running, TemplateName="退货通知", RelatedSignName="二店"))).body["TemplateCode"]
    intl = (await demo.call("CreateSmsTemplate", TemplateType=3, TemplateName="Shipping",
                            TemplateContent="Shipped", IntlType=0)).body["TemplateCode"]
    await store.review_template(second, ReviewState.APPROVED, "", now)

    async def codes(**filters: Any) -> list[str]:
        listed = await demo.call("GetSmsTemplateList", PageSize=50, **filters)
        assert listed.code in ("OK", ""), listed
        return [t["TemplateCode"] for t in listed.body["Data"]["List"]
                if t["TemplateCode"] in (first, second, intl)]

    assert await codes(SignName="二店") == [second]
    assert await codes(SignName="没有") == []
    assert await codes(TemplateCode=first) == [first]
    assert await codes(TemplateName="货通知") == [first, second]
    assert await codes(TemplateName="_100%") == [first]  # a part, wildcards taken literally
    assert await codes(TemplateName="0%") == [first]
    assert await codes(TemplateName="%") == [first]
    assert await codes(UsableStateList=["AVAILABLE"]) == [second]
    assert await codes(UsableStateList=["UNAVAILABLE"]) == [first, intl]
    assert await codes(UsableStateList=["MISSING_SIGNATURE"]) == [intl]
    assert await codes(UsableStateList=["AVAILABLE", "MISSING_SIGNATURE"]) == [second, intl]
    assert await codes(UsableStateList=["MISSING_TRAFFIC_DRIVING"]) == []
    assert await codes(TemplateTag='[{"TagKey":"book","TagValue":"sanguo"}]') == []
    assert await codes(TemplateTag="[]") == [first, second, intl]
    # the filters combine
    assert await codes(TemplateName="通知", AuditStatus=0) == [first]
    row = (await demo.call("GetSmsTemplateList", TemplateCode=second)).body["Data"]["List"][0]
    assert (row["SignName"], row["UsableStateList"]) == ("二店", ["AVAILABLE"])

    for name, value, code in (("UsableStateList", ["USABLE"], "isv.INVALID_PARAMETERS"),
                              ("TemplateTag", '{"TagKey":"a"}', "isv.INVALID_JSON_PARAM"),
                              ("TemplateTag", "[{", "isv.INVALID_JSON_PARAM"),
                              ("TemplateTag", '[{"Key":"a"}]', "isv.INVALID_PARAMETERS")):
        refused = await demo.call("GetSmsTemplateList", **{name: value})
        assert refused.code == code and name in refused.message, (name, value)


async def test_the_operators_decision_reaches_the_pull_queue(running: Running,
                                                             demo: Tenant) -> None:
    await running.client.put("/v1/push", json={"review_url": "queue"})
    code = (await demo.call("CreateSmsTemplate", **shipping(running))).body["TemplateCode"]
    await running.yz.store.review_template(code, ReviewState.APPROVED, "",
                                           running.yz.clock.now())
    received = await asyncio.to_thread(_common, running, "ReceivePushItems",
                                       MessageType="TemplateSmsReport", WaitSeconds="5")
    [item] = received["Items"]
    assert (item["MessageBody"]["template_code"], item["MessageBody"]["template_name"],
            item["MessageBody"]["audit_status"]) == (code, "发货通知", "AUDIT_STATE_PASS")


async def test_the_reviewer_sees_what_create_sms_template_added(tmp_path: Path) -> None:
    """`yizhan templates show` prints the remark, related signature, variable attributes and
    scene next to the text, for the operator deciding."""
    async with opened_store("sqlite", tmp_path) as store:
        now = datetime(2026, 12, 7, tzinfo=UTC)
        owner = await store.create_account("acme", now)
        template = await store.create_template(
            owner.id, "发货通知", TemplateType.NOTIFICATION, "订单${order}已发货",
            ReviewState.PENDING, now, remark="shipping notices", application=TemplateApplication(
                "驿站", '{"order":"other_number2"}', None, "https://shop.example.com"))
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["templates", "show", template.code, "--database-url",
                                  f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", "--data-dir",
                                  str(tmp_path)], env={**TEST_MASTER_ENV, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for line in ("remark: shipping notices", "related signature: 驿站",
                 'variables: {"order":"other_number2"}', "scene: https://shop.example.com"):
        assert line in result.output
    assert "international type" not in result.output


async def test_values_sent_are_checked_against_the_variable_attributes(
        running: Running, demo: Tenant) -> None:
    """SendSms and SendBatchSms with a template applied with TemplateRule: each value must
    be of its variable's kind and length (docs/compliance.md "Variable attributes at
    send"); a template without attributes takes the same values as before."""
    store, now = running.yz.store, running.yz.clock.now()
    created = await demo.call("CreateSmsTemplate", **shipping(
        running, TemplateType=0, TemplateName="登录验证码",
        TemplateContent="您的验证码${code}，5分钟内有效", TemplateRule='{"code":"numberCaptcha"}'))
    code = created.body["TemplateCode"]
    await store.review_template(code, ReviewState.APPROVED, "", now)
    sign = running.demo.signature.name
    for value, answer, detail in (("12a4", "isv.TEMPLATE_PARAMS_ILLEGAL", "digits only"),
                                  ("123", "isv.PARAM_LENGTH_LIMIT", "4-6"),
                                  ("1234567", "isv.PARAM_LENGTH_LIMIT", "4-6"),
                                  ("0207", "OK", "")):
        sent = await demo.call("SendSms", PhoneNumbers="13800138000", SignName=sign,
                               TemplateCode=code, TemplateParam=f'{{"code":"{value}"}}')
        assert (sent.code, detail in sent.message) == (answer, True), (value, sent)
        if answer != "OK":
            assert "${code}" in sent.message

    batch = await demo.call("SendBatchSms", PhoneNumberJson='["13800138000","13900139000"]',
                            SignNameJson=f'["{sign}","{sign}"]', TemplateCode=code,
                            TemplateParamJson='[{"code":"4821"},{"code":"48x1"}]')
    assert batch.code == "isv.TEMPLATE_PARAMS_ILLEGAL" and "${code}" in batch.message
    batch = await demo.call("SendBatchSms", PhoneNumberJson='["13800138000","13900139000"]',
                            SignNameJson=f'["{sign}","{sign}"]', TemplateCode=code,
                            TemplateParamJson='[{"code":"4821"},{"code":"4822"}]')
    # (the first number had its one code a minute: SendBatchSms answers OK for the rest)
    assert batch.code == "OK", batch.message

    # the demo's verification template has no attributes: the general checks only
    plain = await demo.call("SendSms", PhoneNumbers="13700137000", SignName=sign,
                            TemplateCode=running.verification, TemplateParam='{"code":"12a4"}')
    assert plain.code == "OK", plain.message


async def test_the_tenants_resubmissions_and_deletions_are_audited(running: Running,
                                                                   demo: Tenant) -> None:
    store, now = running.yz.store, running.yz.clock.now()
    code = (await demo.call("CreateSmsTemplate", **shipping(running))).body["TemplateCode"]
    await store.review_template(code, ReviewState.REJECTED, "缺少场景", now, "cli op")
    assert (await demo.call("UpdateSmsTemplate", **shipping(running, TemplateCode=code))
            ).code == "OK"
    assert (await demo.call("ModifySmsTemplate", TemplateCode=code, TemplateType=1,
                            TemplateName="发货通知", TemplateContent="您的订单${order}已发出",
                            Remark="r")).code == "OK"
    assert (await demo.call("DeleteSmsTemplate", TemplateCode=code)).code == "OK"
    history = await store.review_decisions("template", code)
    assert [(d.actor, d.action, d.state) for d in history] == [
        ("cli op", "review", ReviewState.REJECTED),
        ("account demo", "resubmit", ReviewState.PENDING),
        ("account demo", "resubmit", ReviewState.PENDING),
        ("account demo", "delete", ReviewState.DELETED)]
