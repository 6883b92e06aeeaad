"""The policy rules through the native REST API: number segments, characters, keywords,
promotion hours (on a manual clock), country rules; a refused number of a multi-number
request becomes a failed record carrying the code and the rule."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tests.api.test_rest import expect, fresh_number, send_body
from tests.conftest import ManualClock, Running, eventually, start_running
from yizhan.domain.model import BlacklistEntry, PhoneNumber, RegistrationKind, TemplateType
from yizhan.domain.timezone import CHINA
from yizhan.storage.store import SqlStore


async def records(running: Running, biz_id: str) -> dict[str, dict[str, Any]]:
    found = (await running.client.get("/v1/messages", params={"biz_id": biz_id})).json()
    return {m["phone_number"]: m for m in found["messages"]}


async def test_unsupported_segments(running: Running) -> None:
    body = expect(await running.client.post(
        "/v1/messages", json=send_body(running, ["17012345678"])), 400,
        "isv.MOBILE_NUMBER_ILLEGAL")
    assert "17012345678: segment 170 is not supported (virtual operator)" in body["message"]
    sent = await running.client.post("/v1/messages", json=send_body(
        running, ["13800138000", "17012345678", "+8619212345678"]))
    assert sent.status_code == 200, sent.text
    assert [m["status"] for m in sent.json()["messages"]] == ["waiting", "failed", "failed"]
    stored = await records(running, sent.json()["biz_id"])
    assert stored["17012345678"]["error_code"] == "isv.MOBILE_NUMBER_ILLEGAL"
    assert stored["17012345678"]["reason"] == (
        "numbers.segment: 17012345678: segment 170 is not supported (virtual operator)")
    assert stored["19212345678"]["reason"].startswith("numbers.segment: 19212345678")
    assert await running.yz.store.pending_dispatch() <= 1  # only 13800138000 goes out


async def test_characters_in_variables(running: Running) -> None:
    body = expect(await running.client.post("/v1/messages", json=send_body(
        running, template_param={"code": "12😀"})), 400, "isv.PARAM_NOT_SUPPORT_CHARACTER")
    assert "U+1F600 GRINNING FACE" in body["message"]
    sent = await running.client.post("/v1/messages", json=send_body(
        running, template_param={"code": "\u200b12\u200d34\ufeff"}))
    stored = await records(running, sent.json()["biz_id"])
    assert stored["13800138000"]["content"].startswith("【驿站】您的验证码为1234，")


async def test_keywords_refuse_and_changes_take_effect_within_the_cache_time(
        running: Running) -> None:
    store, now = running.yz.store, running.yz.clock.now()
    await store.add_keywords(None, ["赌博"], now)
    body = expect(await running.client.post("/v1/messages", json=send_body(
        running, template_param={"code": "赌博"})), 400, "isv.BLACK_KEY_CONTROL_LIMIT")
    assert "keyword '赌博' (platform list)" in body["message"]
    await store.add_keywords(running.demo.account.id, ["5678"], now)

    async def refused() -> bool:
        r = await running.client.post("/v1/messages", json=send_body(
            running, [fresh_number()], template_param={"code": "5678"}))
        return r.json()["code"] == "isv.BLACK_KEY_CONTROL_LIMIT"
    await eventually(refused, timeout=5, what="the account's new keyword")
    await store.remove_keywords(None, ["赌博"])

    async def accepted() -> bool:
        r = await running.client.post("/v1/messages", json=send_body(
            running, [fresh_number()], template_param={"code": "赌博"}))
        return r.json()["code"] == "OK"
    await eventually(accepted, timeout=5, what="the removed keyword")


async def test_country_rules(running: Running) -> None:
    store, account = running.yz.store, running.demo.account
    body = expect(await running.client.post("/v1/messages", json=send_body(
        running, ["+12025550123"])), 400, "isv.COUNTRY_REGISTRATION_REQUIRED")
    assert "United States needs a registered toll-free number" in body["message"]
    await store.add_registration(account.id, "US", RegistrationKind.TOLL_FREE,
                                 "+18005550100", running.yz.clock.now())

    async def accepted() -> bool:
        r = await running.client.post("/v1/messages", json=send_body(running, ["+12025550123"]))
        return r.status_code == 200
    await eventually(accepted, timeout=5, what="the registration")

    sent = await running.client.post("/v1/messages", json=send_body(running, ["+84987654321"]))
    stored = await records(running, sent.json()["biz_id"])
    assert stored["+84987654321"]["status"] != "failed"
    assert stored["+84987654321"]["reason"] == (
        "international.voice: Vietnam without a registered Sender ID: delivered as a voice call")
    notification = running.demo.templates[TemplateType.NOTIFICATION].code
    expect(await running.client.post("/v1/messages", json=send_body(
        running, ["+84987654321"], template_code=notification,
        template_param={"order": "1"})), 400, "isv.COUNTRY_REGISTRATION_REQUIRED")


def china(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-25T{text}").replace(tzinfo=CHINA)


async def test_promotion_hours_at_the_edges(store: SqlStore, tmp_path: Path) -> None:
    clock = ManualClock(china("07:59:59"))
    async with start_running(store, tmp_path, clock) as running:
        promotion = running.demo.templates[TemplateType.PROMOTION].code

        async def send(phones: list[str], code: str = promotion) -> Any:
            return await running.client.post("/v1/messages", json=send_body(
                running, phones, template_code=code, template_param={"discount": "8"}))

        body = expect(await send(["13800138000"]), 400, "isv.PROMOTION_TIME_LIMIT")
        assert "it is 07:59:59 China time" in body["message"]
        clock.advance(seconds=1)
        assert (await send(["13800138000"])).status_code == 200
        clock.advance(hours=13, minutes=59, seconds=59)  # 21:59:59
        assert (await send(["13800138000"])).status_code == 200
        clock.advance(seconds=1)
        expect(await send(["13800138000"]), 400, "isv.PROMOTION_TIME_LIMIT")
        mixed = await send(["13800138000", "+6591234567"])  # international: no window
        assert [m["status"] for m in mixed.json()["messages"]] == ["failed", "waiting"]
        verification = await running.client.post("/v1/messages", json=send_body(running))
        assert verification.status_code == 200


async def test_each_message_shows_the_verdict_of_every_rule(running: Running) -> None:
    """`GET /v1/messages/{id}` shows the policy trail: for a refused number every rule that
    refused it (the first decides its code), for a passed one every rule passed or not
    applicable."""
    await running.yz.store.add_blacklisted([BlacklistEntry(
        PhoneNumber("+8617012345678"), (), "complaint", running.yz.clock.now())])
    sent = (await running.client.post("/v1/messages", json=send_body(
        running, [fresh_number(), "17012345678"]))).json()
    passed, refused = [(await running.client.get(f"/v1/messages/{m['message_id']}")).json()
                       for m in sent["messages"]]
    assert refused["error_code"] == "isv.MOBILE_NUMBER_ILLEGAL"
    trail = {s["rule"]: (s["verdict"], s["code"]) for s in refused["policy_trail"]}
    assert trail["numbers.segment"] == ("refused", "isv.MOBILE_NUMBER_ILLEGAL")
    assert trail["blacklist"] == ("refused", "isv.MOBILE_IN_BLACKLIST")
    assert trail["frequency"] == ("not_evaluated", "")
    assert [s["rule"] for s in passed["policy_trail"]] == [s["rule"] for s in
                                                          refused["policy_trail"]]
    assert {s["verdict"] for s in passed["policy_trail"]} == {"passed", "not_applicable"}
    assert passed["policy_trail"][-1] == {"rule": "frequency", "verdict": "passed",
                                          "code": ""}
    listed = await records(running, sent["biz_id"])  # the list shows it as well
    assert listed["17012345678"]["policy_trail"] == refused["policy_trail"]
