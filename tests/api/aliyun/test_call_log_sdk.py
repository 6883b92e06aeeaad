"""The API call log through the official SDK (issue 18 point 2, "Failed, but no record"):
a SendSms refused as a whole leaves a call with its code and its numbers and no message
record; an accepted one leaves a call too; the native API's calls are logged; another
tenant cannot see them; calls of an unknown AccessKey belong to no account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.aliyun.sdk import Tenant
from tests.api.raw_http import exchange
from tests.conftest import Running, eventually
from yizhan.domain.calls import ApiCall
from yizhan.domain.model import AccountId, ReviewState, TemplateType
from yizhan.domain.timezone import china_day_bounds, china_today

NUMBER = "13800138011"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def tenant(running: Running) -> AsyncIterator[Tenant]:
    yield Tenant(running, running.demo.key.id, running.demo.key.secret)


def send_params(running: Running, **more: Any) -> dict[str, Any]:
    return {"PhoneNumbers": NUMBER, "SignName": running.demo.signature.name,
            "TemplateCode": running.verification, "TemplateParam": '{"code":"0207"}', **more}


async def calls_of(running: Running, account_id: AccountId | None, phone: str,
                   count: int) -> list[ApiCall]:
    """The calls naming `phone` today, once the call log has written `count` of them."""
    day = china_today(running.yz.clock.now())
    store = running.yz.store

    async def written() -> list[ApiCall] | None:
        found = await store.calls_for_number(account_id, phone, day)
        return found if len(found) >= count else None
    found: list[ApiCall] = await eventually(written, what=f"{count} call(s) logged")
    return found


async def test_a_send_refused_as_a_whole_leaves_a_call_and_no_record(
        running: Running, tenant: Tenant) -> None:
    store, account = running.yz.store, running.demo.account
    pending = await store.create_template(account.id, "待审", TemplateType.VERIFICATION,
                                          "验证码${code}", ReviewState.PENDING,
                                          running.yz.clock.now())
    numbers = ",".join([NUMBER, "13800138012", "+8613800138013"])
    refused = await tenant.call("SendSms", **send_params(
        running, PhoneNumbers=numbers, TemplateCode=pending.code))
    assert refused.code == "isv.SMS_TEMPLATE_ILLEGAL"
    [call] = await calls_of(running, account.id, "+86" + NUMBER, 1)
    assert (call.action, call.code, call.http_status) == ("SendSms", "isv.SMS_TEMPLATE_ILLEGAL",
                                                          200)
    assert call.numbers == ("+86" + NUMBER, "+8613800138012", "+8613800138013")
    assert call.number_count == 3 and call.biz_id is None
    assert (call.sign_name, call.template_code) == (running.demo.signature.name, pending.code)
    assert call.key_id == running.demo.key.id and call.account_id == account.id
    assert call.client == "127.0.0.1" and call.request_id == refused.body["RequestId"]
    assert call.detail == refused.message and refused.message  # why, as the caller was told
    start, end = china_day_bounds(china_today(running.yz.clock.now()))
    total, _ = await store.query_messages(account.id, "+86" + NUMBER, start, end)
    assert total == 0  # no record: the call is the only trace


async def test_a_bad_signature_of_the_request_is_logged_for_the_keys_account(
        running: Running) -> None:
    wrong = Tenant(running, running.demo.key.id, "not-the-secret")
    refused = await wrong.call("SendSms", **send_params(running))
    assert refused.code == "SignatureDoesNotMatch"
    [call] = await calls_of(running, running.demo.account.id, "+86" + NUMBER, 1)
    assert (call.code, call.http_status, call.numbers) == ("SignatureDoesNotMatch", 400,
                                                           ("+86" + NUMBER,))
    assert call.key_id == running.demo.key.id
    # the words the caller got, the server's string to sign included (no secret in it)
    assert call.detail == refused.body["Message"] and "string to sign" in call.detail


async def test_text_that_is_no_number_is_kept_as_given(running: Running,
                                                       tenant: Tenant) -> None:
    refused = await tenant.call("SendSms", **send_params(running, PhoneNumbers="12-abc"))
    assert refused.code == "isv.MOBILE_NUMBER_ILLEGAL"
    [call] = await calls_of(running, running.demo.account.id, "12-abc", 1)
    assert (call.numbers, call.code) == (("12-abc",), "isv.MOBILE_NUMBER_ILLEGAL")


async def test_an_accepted_send_leaves_a_call_found_through_its_records(
        running: Running, tenant: Tenant) -> None:
    sent = await tenant.call("SendSms", **send_params(running))
    assert sent.code == "OK"
    [call] = await calls_of(running, running.demo.account.id, "+86" + NUMBER, 1)
    # (kept as given: its records hold the number normalized, and find the call)
    assert (call.code, call.biz_id, call.numbers) == ("OK", sent.body["BizId"], (NUMBER,))
    assert call.detail == ""  # an accepted call has no refusal to explain


async def test_an_unknown_access_key_belongs_to_no_account(running: Running) -> None:
    stranger = Tenant(running, "LTAIunknownunknownunkn", "secret")
    refused = await stranger.call("SendSms", **send_params(running))
    assert refused.code == "InvalidAccessKeyId.NotFound"
    [call] = await calls_of(running, None, "+86" + NUMBER, 1)  # the operator sees it
    assert (call.account_id, call.key_id) == (None, "LTAIunknownunknownunkn")
    day = china_today(running.yz.clock.now())
    assert await running.yz.store.calls_for_number(running.demo.account.id, "+86" + NUMBER,
                                                   day) == []
    listed = (await running.client.get("/v1/calls")).json()
    assert all(c["access_key_id"] != "LTAIunknownunknownunkn" for c in listed["calls"])


async def test_rest_calls_are_logged_and_listed_for_their_tenant_only(
        running: Running, tenant: Tenant) -> None:
    body = {"phone_numbers": [NUMBER], "sign_name": running.demo.signature.name,
            "template_code": "SMS_0"}
    refused = await running.client.post("/v1/messages", json=body)
    assert refused.json()["code"] == "isv.SMS_TEMPLATE_ILLEGAL"
    assert (await tenant.call("SendSms", **send_params(running))).code == "OK"
    await calls_of(running, running.demo.account.id, "+86" + NUMBER, 2)

    listed = (await running.client.get("/v1/calls", params={"phone_number": NUMBER})).json()
    assert listed["total"] == 2
    rpc, rest = listed["calls"]  # newest first
    assert (rest["action"], rest["code"], rest["http_status"]) == (
        "POST /v1/messages", "isv.SMS_TEMPLATE_ILLEGAL", 400)
    assert rest["phone_numbers"] == [NUMBER] and rest["template_code"] == "SMS_0"
    assert rest["request_id"] == refused.json()["request_id"]
    assert rest["message"] == refused.json()["message"] and rpc["message"] == ""
    assert (rpc["action"], rpc["code"]) == ("SendSms", "OK") and rpc["biz_id"]
    only = (await running.client.get("/v1/calls", params={
        "code": "isv.SMS_TEMPLATE_ILLEGAL"})).json()
    assert [c["action"] for c in only["calls"]] == ["POST /v1/messages"]

    store, now = running.yz.store, running.yz.clock.now()
    other = await store.create_account("other", now)
    key = await store.create_access_key(other.id, now)
    theirs = (await running.client.get("/v1/calls", auth=(key.id, key.secret))).json()
    assert theirs["total"] == 0 or all(
        c["access_key_id"] == key.id for c in theirs["calls"])
    assert not any(NUMBER in c["phone_numbers"] for c in theirs["calls"])


async def test_a_request_the_size_limits_refuse_keeps_its_message(running: Running) -> None:
    """Refused before its body is read (api/limits.py): the call keeps the code and the
    message the client got, in the shape of its API."""
    too_large = 1 << 30
    for path in ("/", "/v1/messages"):
        answer = await exchange(running.base_url, "\r\n".join([
            f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {too_large}",
            "Content-Type: application/json"]).encode())
        body = answer.json()
        # (the Alibaba-compatible endpoint answers in PascalCase, the native API not)
        code, message, rid = (body.get(rpc, body.get(rest)) for rpc, rest in (
            ("Code", "code"), ("Message", "message"), ("RequestId", "request_id")))
        assert answer.status == 413 and code == "RequestTooLarge"
        call = await call_answered(running, str(rid))
        assert call.detail == message and call.detail


async def call_answered(running: Running, request_id: str) -> ApiCall:
    """The logged call of today that was answered with `request_id`, once written."""
    start, end = china_day_bounds(china_today(running.yz.clock.now()))

    async def logged() -> ApiCall | None:
        _, found = await running.yz.store.query_calls(None, start, end)
        return next((c for c in found if c.request_id == request_id), None)
    call: ApiCall = await eventually(logged, what=f"call {request_id} logged")
    return call
