"""The native REST API over loopback HTTP: send -> simulator receipt -> record, and every
bad input answering its documented code and status."""

from __future__ import annotations

import itertools
import random
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.conftest import Running, eventually
from yizhan.api.rest.records import attachment
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


async def test_international_numbers_in_alibabas_form(running: Running) -> None:
    """Issue 14 point 10: country code + national number without `+` or `00` is accepted;
    the records show the E.164 number; invalid digits still refuse the request."""
    sent = await running.client.post("/v1/messages", json=send_body(
        running, "85291234560,6591234567,447911123456"))
    assert sent.status_code == 200, sent.text
    assert [m["phone_number"] for m in sent.json()["messages"]] == [
        "+85291234560", "+6591234567", "+447911123456"]
    for bad in ("85291234", "12025550123", "840987654321"):
        refused = await running.client.post("/v1/messages", json=send_body(running, bad))
        assert (refused.status_code, refused.json()["code"]) == (
            400, "isv.MOBILE_NUMBER_ILLEGAL"), bad


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
    r = await c.delete("/v1/messages")
    expect(r, 405, "MethodNotAllowed")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


async def test_trace_and_other_methods_answer_405_with_allow(running: Running) -> None:
    """Issue 14 point 7: TRACE answered 404; a method a URL does not take is 405 with Allow,
    on the native API and on the Alibaba-compatible endpoint alike."""
    for path, allowed in (("/healthz", {"GET"}), ("/v1/messages", {"GET", "POST"}),
                          ("/", {"GET", "POST"})):
        r = await running.client.request("TRACE", path)
        expect(r, 405, "MethodNotAllowed")
        assert allowed <= set(r.headers["allow"].replace(" ", "").split(","))
    expect(await running.client.request("TRACE", "/v1/nowhere"), 404, "InvalidApi.NotFound")


async def test_ids_out_of_their_shape_are_refused_with_400(running: Running) -> None:
    """Issue 14 point 5: an id past 2^63-1 answered 500 (the store's integer overflowed), a
    BizId with a NUL or a Chinese character 500, in plain text for the NUL."""
    c = running.client
    for path, params in (("/v1/messages/9223372036854775808", None),
                         ("/v1/messages/0", None), ("/v1/messages/-1", None),
                         ("/v1/messages", {"biz_id": "驿"}),
                         ("/v1/messages", {"biz_id": "\x00"}),
                         ("/v1/exports/failed-numbers", {"biz_id": "驿"}),
                         ("/v1/exports/failed-numbers", {"biz_id": "\x00"}),
                         ("/v1/exports/failed-numbers",
                          {"biz_id": 'a"; filename=../evil'})):
        r = expect(await c.get(path, params=params), 400, "InvalidParameter")
        # Says what is wrong: the id's name, or the NUL that no parameter may hold.
        assert any(word in r["message"] for word in ("message_id", "biz_id", "NUL")), r
    acked = await c.post("/v1/queue/SmsReport/ack",
                         json={"receipt_handles": ["9223372036854775808"]})
    expect(acked, 400, "InvalidParameter")
    expect(await c.get("/v1/messages/9223372036854775807"), 404, "MessageNotFound")


async def test_unknown_query_parameters_and_loose_dates_are_refused(running: Running) -> None:
    """Issue 14 point 7 (what schemathesis found): a misspelt parameter was ignored silently
    (`bizid=` listed nothing, with 200), and `date=0` was read as 1970-01-01."""
    c = running.client
    r = expect(await c.get("/v1/messages", params={"bizid": "1^0"}), 400, "InvalidParameter")
    assert "bizid" in r["message"]
    expect(await c.get("/v1/messages", params={"phone_number": "13800138000", "date": "0"}),
           400, "InvalidParameter")
    expect(await c.get("/v1/statistics", params={"start_date": "0"}), 400, "InvalidParameter")
    assert (await c.get("/v1/statistics", params={"start_date": "2026-01-01",
                                                  "end_date": "2026-01-02"})).status_code == 200


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


def test_a_download_name_cannot_add_to_its_content_disposition() -> None:
    """Issue 14 point 5: `biz_id=a"; filename=../evil` put a second filename into the
    header. Whatever the name, the header has one `filename` (ASCII, nothing that ends the
    quoted text) and one `filename*` (RFC 6266, the UTF-8 name percent-encoded)."""
    header = attachment('failed-a"; filename=../evil驿.csv')
    assert header == ("attachment; filename=\"failed-a___filename_.._evil_.csv\"; "
                      "filename*=UTF-8''failed-a%22%3B%20filename%3D..%2Fevil%E9%A9%BF.csv")
    kind, *params = header.split("; ")
    assert kind == "attachment" and [p.split("=")[0] for p in params] == ["filename",
                                                                        "filename*"]
    assert unquote(params[1].removeprefix("filename*=UTF-8''")) == (
        'failed-a"; filename=../evil驿.csv')


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
