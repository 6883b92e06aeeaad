"""Account state through the public APIs (native REST and Alibaba-compatible RPC): the
blacklist, promotion opt-outs, test numbers, deleted signatures and templates, and money
(charges in the records, a negative balance refusing sends).

The server runs on a clock shifted to 12:00 China time today, so that promotions are inside
their sending hours whenever the suite runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.aliyun.test_rpc_wire import creds, post, signed_query
from tests.api.test_rest import final_messages, fresh_number, send_body
from tests.conftest import Running, eventually
from yizhan.domain.model import BlacklistEntry, PhoneNumber, ReviewState, TemplateType
from yizhan.domain.ports import Clock, SystemClock
from yizhan.domain.timezone import CHINA


class ChinaNoonClock(SystemClock):
    """Real time, moved so that it is 12:00 in China when the test starts."""

    def __init__(self) -> None:
        real = datetime.now(UTC)
        noon = real.astimezone(CHINA).replace(hour=12, minute=0, second=0, microsecond=0)
        self._offset = noon - real

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


@pytest.fixture
def running_clock() -> Clock:
    return ChinaNoonClock()


def promotion(running: Running, phones: Any) -> dict[str, Any]:
    return send_body(running, phones, template_code=running.demo.templates[
        TemplateType.PROMOTION].code, template_param={"discount": "8"})


async def rpc(running: Running, action: str, **params: str) -> httpx.Response:
    query = signed_query(*creds(running), {"Action": action, **params},
                         when=running.yz.clock.now())
    return await post(running, query)


async def send_rpc(running: Running, phones: str, **more: str) -> dict[str, Any]:
    params = {"PhoneNumbers": phones, "SignName": running.demo.signature.name,
              "TemplateCode": running.verification, "TemplateParam": '{"code":"1234"}', **more}
    response = await rpc(running, "SendSms", **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def blacklist(running: Running, phone: str, *signs: str) -> None:
    await running.yz.store.add_blacklisted([BlacklistEntry(
        PhoneNumber(phone), signs, "complaint", running.yz.clock.now())])


async def test_blacklisted_and_opted_out_numbers_fail_alone_on_the_native_api(
        running: Running) -> None:
    store, demo = running.yz.store, running.demo
    await blacklist(running, "+8613900139000", demo.signature.name)
    await blacklist(running, "+8613600136000", "别的签名")  # another signature: not concerned
    await store.add_opt_out(demo.account.id, demo.signature.name,
                            PhoneNumber("+8613700137000"), "R", running.yz.clock.now())
    sent = await running.client.post("/v1/messages", json=promotion(
        running, ["13800138000", "13900139000", "13700137000", "13600136000"]))
    assert sent.status_code == 200, sent.text
    assert [m["status"] for m in sent.json()["messages"]] == [
        "waiting", "failed", "failed", "waiting"]
    messages = await final_messages(running, sent.json()["biz_id"])
    assert [(m["status"], m["error_code"]) for m in messages] == [
        ("success", "DELIVERED"), ("failed", "isv.MOBILE_IN_BLACKLIST"),
        ("failed", "isv.MOBILE_OPTED_OUT"), ("success", "DELIVERED")]
    assert messages[1]["reason"].startswith("blacklist: 13900139000 is blacklisted")
    assert messages[2]["reason"].startswith("promotion.opt_out: ")
    # the opt-out concerns promotions only; the blacklist every message of the signature
    ok = await running.client.post("/v1/messages", json=send_body(running, ["13700137000"]))
    assert ok.status_code == 200 and ok.json()["messages"][0]["status"] == "waiting"
    refused = await running.client.post("/v1/messages", json=send_body(
        running, ["13900139000", "13700137000"], template_code=running.demo.templates[
            TemplateType.PROMOTION].code, template_param={"discount": "8"}))
    assert refused.status_code == 400
    assert refused.json()["code"] == "isv.MOBILE_IN_BLACKLIST"  # the first number's code


async def test_blacklist_on_the_alibaba_api_and_query_send_details(running: Running) -> None:
    await blacklist(running, "+8613900139000")  # every signature
    body = await send_rpc(running, "13800138000,13900139000")
    assert body["Code"] == "OK" and body["BizId"]
    day = running.yz.clock.now().astimezone(CHINA).strftime("%Y%m%d")

    async def details(phone: str) -> dict[str, Any] | None:
        answer = (await rpc(running, "QuerySendDetails", PhoneNumber=phone, SendDate=day,
                            PageSize="10", CurrentPage="1", BizId=body["BizId"])).json()
        found = answer["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
        return found[0] if found and found[0]["SendStatus"] != 1 else None

    blocked = await eventually(lambda: details("13900139000"), what="failed detail")
    assert blocked["SendStatus"] == 2 and blocked["ErrCode"] == "isv.MOBILE_IN_BLACKLIST"
    delivered = await eventually(lambda: details("13800138000"), what="delivered detail")
    assert delivered["SendStatus"] == 3 and delivered["ErrCode"] == "DELIVERED"
    alone = await send_rpc(running, "13900139000")
    assert alone["Code"] == "isv.MOBILE_IN_BLACKLIST" and "BizId" not in alone


async def test_test_template_sends_only_to_bound_test_numbers(running: Running) -> None:
    store, client = running.yz.store, running.client
    template = await store.create_template(running.demo.account.id, "test", TemplateType
                                           .VERIFICATION, "测试验证码${code}",
                                           ReviewState.APPROVED, running.yz.clock.now(),
                                           test=True)
    assert (await client.post("/v1/test-numbers",
                              json={"phone_number": "+8613800138000"})).json()[
        "already_bound"] is False
    listed = (await client.get("/v1/test-numbers")).json()["test_numbers"]
    assert [t["phone_number"] for t in listed] == ["13800138000"]
    sent = await client.post("/v1/messages", json=send_body(
        running, ["13800138000", "13900139000"], template_code=template.code))
    assert [m["status"] for m in sent.json()["messages"]] == ["waiting", "failed"]
    messages = await final_messages(running, sent.json()["biz_id"])
    assert messages[1]["error_code"] == "isv.SMS_TEST_NUMBER_LIMIT"
    alone = await send_rpc(running, "13900139000", TemplateCode=template.code)
    assert alone["Code"] == "isv.SMS_TEST_NUMBER_LIMIT"
    assert (await client.delete("/v1/test-numbers/13800138000")).status_code == 200
    gone = await client.delete("/v1/test-numbers/13800138000")
    assert gone.status_code == 404 and gone.json()["code"] == "TestNumberNotFound"
    bad = await client.post("/v1/test-numbers", json={"phone_number": "12345"})
    assert bad.status_code == 400 and bad.json()["code"] == "isv.MOBILE_NUMBER_ILLEGAL"


async def test_the_test_number_limit(running: Running) -> None:
    for i in range(10):
        bound = await running.client.post("/v1/test-numbers",
                                          json={"phone_number": f"1380013800{i}"})
        assert bound.status_code == 200
    full = await running.client.post("/v1/test-numbers", json={"phone_number": "13900139000"})
    assert full.status_code == 400 and full.json()["code"] == "TestNumberLimit"


async def test_deleted_signatures_and_templates_never_send_again(running: Running) -> None:
    store, clock = running.yz.store, running.yz.clock
    sign = await store.create_signature(running.demo.account.id, "将删除",
                                        running.demo.signature.scenario,
                                        ReviewState.APPROVED, clock.now())
    assert (await send_rpc(running, "13800138000", SignName=sign.name))["Code"] == "OK"
    assert (await rpc(running, "DeleteSmsSign", SignName=sign.name)).json()["Code"] == "OK"
    await store.review_signature(sign.id, ReviewState.APPROVED)  # cannot bring it back
    code = running.verification
    assert (await rpc(running, "DeleteSmsTemplate", TemplateCode=code)).json()["Code"] == "OK"
    await store.review_template(code, ReviewState.APPROVED)

    async def refused(**params: str) -> str | None:
        answer = (await send_rpc(running, "13800138000", **params))["Code"]
        return answer if answer != "OK" else None

    assert await eventually(lambda: refused(SignName=sign.name, TemplateCode=running.demo
                                            .templates[TemplateType.NOTIFICATION].code,
                                            TemplateParam='{"order":"1"}'),
                            what="deleted signature refused") == "isv.SMS_SIGNATURE_ILLEGAL"
    assert await eventually(refused, what="deleted template refused") == \
        "isv.SMS_TEMPLATE_ILLEGAL"


async def test_charges_show_in_records_and_a_negative_balance_stops_sending(
        running: Running) -> None:
    store, demo, clock = running.yz.store, running.demo, running.yz.clock
    await store.set_part_price(demo.account.id, 45)
    await store.add_package(demo.account.id, 1, clock.now() + timedelta(days=1), clock.now())
    first = await running.client.post("/v1/messages", json=send_body(running, [fresh_number()]))
    [from_package] = await final_messages(running, first.json()["biz_id"])
    assert from_package["segments"] == 1 and from_package["package_parts"] == 1
    assert from_package["charge"] == "0.000" and from_package["charged_at"]
    second = await running.client.post("/v1/messages", json=send_body(running, [fresh_number()]))
    [paid] = await final_messages(running, second.json()["biz_id"])
    assert paid["charge"] == "0.045" and paid["package_parts"] == 0
    account = await store.account(demo.account.id)
    assert account is not None and account.balance == -45

    async def refused() -> httpx.Response | None:
        answer = await running.client.post("/v1/messages",
                                           json=send_body(running, [fresh_number()]))
        return answer if answer.status_code != 200 else None

    answer = await eventually(refused, what="the negative balance to refuse sends")
    assert answer.status_code == 402 and answer.json()["code"] == "isv.AMOUNT_NOT_ENOUGH"
    assert (await send_rpc(running, "13800138000"))["Code"] == "isv.AMOUNT_NOT_ENOUGH"
    # Sends accepted until the cached balance turned negative are charged as they deliver:
    # top up well past what they owe.
    owed = await store.account(demo.account.id)
    assert owed is not None
    await store.top_up(demo.account.id, 1000 - owed.balance + 45 * 1000, "", clock.now())

    async def accepted() -> bool:
        answer = await running.client.post("/v1/messages",
                                           json=send_body(running, [fresh_number()]))
        return answer.status_code == 200

    assert await eventually(accepted, what="the top-up to count")
