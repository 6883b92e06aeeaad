"""The native REST API over loopback HTTP: send -> simulator receipt -> record, and every
bad input answering its documented code and status."""

from __future__ import annotations

import itertools
import random
from typing import Any

import httpx
import pytest

from tests.conftest import Running, eventually
from yizhan.dispatch.channels.simulator import Outcome
from yizhan.domain.model import KeyStatus

_numbers = itertools.count(13_700_000_000 + random.randrange(1_000_000) * 100)


def fresh_number() -> str:
    """A mainland number no other send of this run used: for tests that send repeatedly
    while they wait for something, so frequency control (1 code a minute per number) stays
    out of the way."""
    return str(next(_numbers))


def send_body(running: Running, phones: Any = ("13800138000",), **more: Any) -> dict[str, Any]:
    return {"phone_numbers": list(phones) if not isinstance(phones, str) else phones,
            "sign_name": running.demo.signature.name, "template_code": running.verification,
            "template_param": {"code": "1234"}, **more}


async def final_messages(running: Running, biz_id: str) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        body = (await running.client.get("/v1/messages", params={"biz_id": biz_id})).json()
        messages = body["messages"]
        return messages if all(m["status"] != "waiting" for m in messages) else None
    return await eventually(check, what=f"final status of {biz_id}")


async def test_send_is_delivered_and_shows_in_records(running: Running) -> None:
    sent = await running.client.post("/v1/messages", json=send_body(running, out_id="o-1"))
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["code"] == "OK" and body["biz_id"].endswith("^0")
    assert body["messages"][0]["status"] == "waiting"
    [message] = await final_messages(running, body["biz_id"])
    assert message["status"] == "success" and message["error_code"] == "DELIVERED"
    assert message["content"] == "【驿站】您的验证码为1234，5分钟内有效，请勿泄露于他人。"
    assert message["out_id"] == "o-1" and message["channel"] == "simulator"
    assert message["submitted_at"] and message["receipt_at"]
    one = (await running.client.get(f"/v1/messages/{message['message_id']}")).json()
    assert one["status"] == "success" and one["biz_id"] == body["biz_id"]
    by_day = (await running.client.get("/v1/messages",
                                       params={"phone_number": "+8613800138000"})).json()
    assert by_day["total"] == 1 and by_day["messages"][0]["message_id"] == message["message_id"]


async def test_scripted_failure_reaches_the_record_with_the_carrier_code(
        running: Running) -> None:
    running.simulator.script.numbers["13900139000"] = Outcome("UNDELIV", delay=0.01)
    running.simulator.script.numbers["13700137000"] = Outcome(submit="reject:MK:0001")
    sent = await running.client.post("/v1/messages", json=send_body(
        running, "13800138000,13900139000,13700137000"))
    messages = await final_messages(running, sent.json()["biz_id"])
    assert [(m["phone_number"], m["status"], m["error_code"]) for m in messages] == [
        ("13800138000", "success", "DELIVERED"),
        ("13900139000", "failed", "UNDELIV"),
        ("13700137000", "failed", "MK:0001"),
    ]


async def test_openapi_is_served(running: Running) -> None:
    spec = (await running.client.get("/openapi.json")).json()
    assert "/v1/messages" in spec["paths"]
    assert (await running.client.get("/docs")).status_code == 200


def expect(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"] and body["request_id"]
    return body


async def test_authentication_failures(running: Running) -> None:
    anonymous = httpx.AsyncClient(base_url=running.base_url)
    async with anonymous:
        r = await anonymous.post("/v1/messages", json=send_body(running))
        expect(r, 401, "Unauthorized")
        assert r.headers["www-authenticate"].startswith("Basic")
        r = await anonymous.post("/v1/messages", json=send_body(running),
                                 auth=(running.demo.key.id, "wrong"))
        expect(r, 401, "Unauthorized")
        r = await anonymous.get("/v1/messages/1", auth=("LTAInobody", "x"))
        expect(r, 401, "Unauthorized")
        r = await anonymous.get("/v1/messages/1", headers={"Authorization": "Basic !!!"})
        expect(r, 401, "Unauthorized")
    store = running.yz.store
    key = await store.create_access_key(running.demo.account.id, running.yz.clock.now())
    await store.set_access_key_status(key.id, KeyStatus.DISABLED)
    r = await running.client.get("/v1/messages/1", auth=(key.id, key.secret))
    expect(r, 400, "InvalidAccessKeyId.Inactive")


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"phone_numbers": ["12345"]}, 400, "isv.MOBILE_NUMBER_ILLEGAL"),
    ({"phone_numbers": ["13800138000"] * 1001}, 400, "isv.MOBILE_COUNT_OVER_LIMIT"),
    ({"phone_numbers": []}, 400, "MissingParameter"),
    ({"sign_name": "没有"}, 400, "isv.SMS_SIGNATURE_ILLEGAL"),
    ({"template_code": "SMS_1"}, 400, "isv.SMS_TEMPLATE_ILLEGAL"),
    ({"template_param": {}}, 400, "isv.TEMPLATE_MISSING_PARAMETERS"),
    ({"template_param": {"code": 1234}}, 400, "isv.INVALID_JSON_PARAM"),
    ({"template_param": "{not json"}, 400, "isv.INVALID_JSON_PARAM"),
    ({"template_param": {"code": "1" * 40}}, 400, "isv.PARAM_LENGTH_LIMIT"),
    ({"out_id": "x" * 300}, 400, "InvalidParameter"),
    ({"sign_name": None}, 400, "InvalidParameter"),
])
async def test_send_refusals(running: Running, change: dict[str, Any], status: int,
                             code: str) -> None:
    body = {**send_body(running), **change}
    expect(await running.client.post("/v1/messages", json=body), status, code)
    assert await running.yz.store.pending_dispatch() == 0


async def test_malformed_send_requests(running: Running) -> None:
    body = send_body(running)
    del body["template_code"]
    r = expect(await running.client.post("/v1/messages", json=body), 400, "MissingParameter")
    assert "template_code" in r["message"]
    r = await running.client.post("/v1/messages", content=b"{oops",
                                  headers={"content-type": "application/json"})
    expect(r, 400, "InvalidParameter")


async def test_query_refusals(running: Running) -> None:
    c = running.client
    expect(await c.get("/v1/messages/123"), 404, "MessageNotFound")
    expect(await c.get("/v1/messages/abc"), 400, "InvalidParameter")
    expect(await c.get("/v1/messages"), 400, "MissingParameter")
    expect(await c.get("/v1/messages", params={"biz_id": "1^0"}), 404, "BizIdNotFound")
    expect(await c.get("/v1/messages", params={"phone_number": "123"}), 400,
           "isv.MOBILE_NUMBER_ILLEGAL")
    expect(await c.get("/v1/messages", params={"phone_number": "13800138000",
                                               "date": "2026-13-01"}), 400, "InvalidParameter")
    expect(await c.get("/v1/messages", params={"biz_id": "1^0", "page_size": 0}), 400,
           "InvalidParameter")
    expect(await c.get("/v1/nowhere"), 404, "InvalidApi.NotFound")
    expect(await c.delete("/v1/messages"), 404, "InvalidApi.NotFound")


async def test_another_accounts_message_is_not_found(running: Running) -> None:
    sent = (await running.client.post("/v1/messages", json=send_body(running))).json()
    store, now = running.yz.store, running.yz.clock.now()
    other = await store.create_account("other", now)
    key = await store.create_access_key(other.id, now)
    r = await running.client.get(f"/v1/messages/{sent['messages'][0]['message_id']}",
                                 auth=(key.id, key.secret))
    expect(r, 404, "MessageNotFound")


async def test_messages_follow_accept_language(running: Running) -> None:
    r = await running.client.post("/v1/messages", json={**send_body(running),
                                                        "phone_numbers": ["1"]},
                                  headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    body = expect(r, 400, "isv.MOBILE_NUMBER_ILLEGAL")
    assert body["message"].startswith("手机号码格式错误")


async def test_the_messages_of_a_send_request_come_a_page_at_a_time(running: Running) -> None:
    """issue 14 point 9: the page of a BizId is read with its total, in number order."""
    phones = [fresh_number() for _ in range(45)]
    sent = (await running.client.post("/v1/messages", json=send_body(running, phones))).json()
    ids = [m["message_id"] for m in sent["messages"]]
    pages = [(await running.client.get("/v1/messages", params={
        "biz_id": sent["biz_id"], "page": page, "page_size": 20})).json() for page in (1, 3, 4)]
    assert [p["total"] for p in pages] == [45, 45, 45]
    assert [m["message_id"] for m in pages[0]["messages"]] == ids[:20]
    assert [m["message_id"] for m in pages[1]["messages"]] == ids[40:]
    assert pages[2]["messages"] == []
