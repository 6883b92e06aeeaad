"""The RPC endpoint on the wire, with a small independent signer (RPC signature v1):
replayed nonces, stale and malformed timestamps, tampering, disabled keys, unknown actions,
wrong versions, long request lines."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from tests.conftest import Running
from yizhan.api.aliyun.actions import ACTIONS
from yizhan.domain.model import KeyStatus
from yizhan.domain.timezone import china_day_bounds, china_today


def signed_query(key_id: str, secret: str, params: dict[str, str], *,
                 when: datetime | None = None, nonce: str | None = None,
                 method: str = "POST") -> dict[str, str]:
    moment = when or datetime.now(UTC)
    full = {"AccessKeyId": key_id, "Action": "QuerySmsSignList", "Format": "JSON",
            "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce or uuid.uuid4().hex,
            "SignatureVersion": "1.0", "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25", **params}

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(full.items()))
    text = f"{method}&%2F&{enc(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), text.encode(), hashlib.sha1).digest()
    return {**full, "Signature": base64.b64encode(digest).decode()}


async def post(running: Running, query: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        return await client.post("/?" + urlencode(query))


def creds(running: Running) -> tuple[str, str]:
    return running.demo.key.id, running.demo.key.secret


async def test_a_signed_request_succeeds_and_its_replay_is_refused(running: Running) -> None:
    query = signed_query(*creds(running), {"PageIndex": "1", "PageSize": "10"})
    first = await post(running, query)
    assert first.status_code == 200 and first.json()["Code"] == "OK"
    assert first.headers["x-acs-request-id"] == first.json()["RequestId"]
    assert first.headers["content-type"].startswith("application/json")
    replay = await post(running, query)
    assert replay.status_code == 400 and replay.json()["Code"] == "SignatureNonceUsed"
    assert replay.json()["Message"] == "Specified signature nonce was used already."


async def test_a_replayed_send_is_refused_and_accepts_nothing(running: Running) -> None:
    send = {"Action": "SendSms", "PhoneNumbers": "13800138000", "SignName": "驿站",
            "TemplateCode": running.verification, "TemplateParam": '{"code":"1234"}'}
    query = signed_query(*creds(running), send)
    first = (await post(running, query)).json()
    assert first["Code"] == "OK"
    replay = await post(running, query)
    assert (replay.status_code, replay.json()["Code"]) == (400, "SignatureNonceUsed")
    store = running.yz.store
    day_start, day_end = china_day_bounds(china_today(datetime.now(UTC)))
    total, _ = await store.query_messages(running.demo.account.id, "+8613800138000",
                                          day_start, day_end, 0, 10)
    assert total == 1


async def test_a_refused_send_spends_its_nonce_too(running: Running) -> None:
    refused = signed_query(*creds(running), {
        "Action": "SendSms", "PhoneNumbers": "13800138000", "SignName": "驿站",
        "TemplateCode": "SMS_0", "TemplateParam": '{"code":"1234"}'})
    first = await post(running, refused)
    assert (first.status_code, first.json()["Code"]) == (200, "isv.SMS_TEMPLATE_ILLEGAL")
    replay = await post(running, refused)
    assert (replay.status_code, replay.json()["Code"]) == (400, "SignatureNonceUsed")


async def test_stale_and_malformed_timestamps(running: Running) -> None:
    stale = signed_query(*creds(running), {}, when=datetime.now(UTC) - timedelta(minutes=16))
    r = await post(running, stale)
    assert (r.status_code, r.json()["Code"]) == (400, "InvalidTimeStamp.Expired")
    future = signed_query(*creds(running), {}, when=datetime.now(UTC) + timedelta(minutes=16))
    assert (await post(running, future)).json()["Code"] == "InvalidTimeStamp.Expired"
    fine = signed_query(*creds(running), {}, when=datetime.now(UTC) - timedelta(minutes=14))
    assert (await post(running, fine)).json()["Code"] == "OK"
    bad = signed_query(*creds(running), {"Timestamp": "25/11/2026"})
    r = await post(running, bad)
    assert (r.status_code, r.json()["Code"]) == (400, "InvalidTimeStamp.Format")


async def test_tampering_is_refused_with_the_servers_string_to_sign(running: Running) -> None:
    query = signed_query(*creds(running), {"PageIndex": "1", "PageSize": "10"})
    query["PageSize"] = "50"
    r = await post(running, query)
    body = r.json()
    assert (r.status_code, body["Code"]) == (400, "SignatureDoesNotMatch")
    prefix = "Specified signature is not matched with our calculation. server string to sign is:"
    assert body["Message"].startswith(prefix)
    assert "PageSize%3D50" in body["Message"].split(":", 1)[1]
    assert running.demo.key.secret not in body["Message"]
    # the nonce of a refused request is not burned: the honest request still goes through
    query["PageSize"] = "10"
    assert (await post(running, query)).json()["Code"] == "OK"


async def test_key_problems(running: Running) -> None:
    r = await post(running, signed_query("LTAInobody", "x", {}))
    assert (r.status_code, r.json()["Code"]) == (404, "InvalidAccessKeyId.NotFound")
    store, now = running.yz.store, running.yz.clock.now()
    key = await store.create_access_key(running.demo.account.id, now)
    await store.set_access_key_status(key.id, KeyStatus.DISABLED)
    r = await post(running, signed_query(key.id, key.secret, {}))
    assert (r.status_code, r.json()["Code"]) == (400, "InvalidAccessKeyId.Inactive")
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        r = await client.post("/", params={"Action": "SendSms"})
    assert (r.status_code, r.json()["Code"]) == (400, "IncompleteSignature")


async def test_unknown_action_and_version(running: Running) -> None:
    r = await post(running, signed_query(*creds(running), {"Action": "SendCardSms"}))
    assert (r.status_code, r.json()["Code"]) == (404, "InvalidApi.NotFound")
    r = await post(running, signed_query(*creds(running), {"Version": "2018-01-01"}))
    assert (r.status_code, r.json()["Code"]) == (400, "InvalidVersion")


async def test_get_works_like_post(running: Running) -> None:
    query = signed_query(*creds(running), {"PageIndex": "1", "PageSize": "10"}, method="GET")
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        r = await client.get("/?" + urlencode(query))
    assert r.json()["Code"] == "OK"


async def test_request_lines_of_more_than_32_kb(running: Running) -> None:
    phones = ",".join(f"+86138{i:08d}" for i in range(1000)) + "," + ",".join(
        f"+86139{i:08d}" for i in range(800))  # 1800 numbers: > 32 KB, refused as too many
    params: dict[str, Any] = {"Action": "SendSms", "PhoneNumbers": phones,
                              "SignName": running.demo.signature.name,
                              "TemplateCode": running.verification,
                              "TemplateParam": '{"code":"1"}'}
    query = signed_query(*creds(running), params)
    assert len(urlencode(query)) > 32 * 1024
    r = await post(running, query)
    assert (r.status_code, r.json()["Code"]) == (200, "isv.MOBILE_COUNT_OVER_LIMIT")
    params["PhoneNumbers"] = ",".join(f"+86138{i:08d}" for i in range(1000))
    r = await post(running, signed_query(*creds(running), params))
    assert r.json()["Code"] == "OK"
    messages = await running.yz.store.messages_by_biz(running.demo.account.id,
                                                      r.json()["BizId"])
    assert len(messages) == 1000


async def test_request_rate_limit_answers_throttling_with_retry_after(running: Running) -> None:
    from yizhan.api.throttle import RateLimiter
    running.yz.api.services.limiter._limit = 2  # type: ignore[attr-defined]
    running.yz.api.services.limiter._windows.clear()  # type: ignore[attr-defined]
    assert isinstance(running.yz.api.services.limiter, RateLimiter)
    codes = []
    for _ in range(10):  # 2 per second: some second sees at least 3 of the 10
        r = await post(running, signed_query(*creds(running), {}))
        codes.append(r.json()["Code"])
        if r.json()["Code"] == "Throttling.User":
            assert r.status_code == 400 and r.headers["x-acs-retry-after"] == "1"
    assert "Throttling.User" in codes and codes[0] == "OK"


async def test_an_unexpected_failure_answers_internal_error_in_the_rpc_shape(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(ctx: object) -> dict[str, str]:
        raise RuntimeError("the store fell over")

    monkeypatch.setitem(ACTIONS, "QuerySmsSignList", broken)
    r = await post(running, signed_query(*creds(running), {}))
    body = r.json()
    assert (r.status_code, body["Code"]) == (500, "InternalError")
    assert body["RequestId"] == r.headers["x-acs-request-id"]
    assert "the store fell over" not in r.text  # no internals leak to the client
