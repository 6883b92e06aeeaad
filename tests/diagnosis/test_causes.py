"""Issue 18 point 5: one test per cause the FAQ lists, each a real run (REST or the official
SDK, the policy chain, the simulated carrier with a scripted receipt), then diagnosed through
GET /v1/messages/{id}/diagnosis as the tenant would ask: the right verdict, side and advice,
with the facts that prove it.

A number the policy refuses leaves a failed record only when another number of the same
request went through (docs/diagnosis.md "Verdicts"): these tests send two
numbers. A call refused as a whole leaves no record; those causes are in
`test_refused_calls.py`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.api.aliyun.sdk import Tenant
from tests.api.test_frequency import MinuteStartClock
from tests.api.test_rest import fresh_number, send_body
from tests.conftest import Running, eventually
from yizhan.dispatch.channels.simulator import Outcome
from yizhan.domain.model import BlacklistEntry, PhoneNumber, TemplateType
from yizhan.domain.ports import Clock
from yizhan.domain.timezone import CHINA


class JumpingClock(MinuteStartClock):
    """Real time from the start of a minute, which a test can move forward at once (the
    handset that comes back two hours later, the 72 hours without a receipt)."""

    def jump(self, delta: timedelta) -> None:
        self._offset += delta


@pytest.fixture
def running_clock() -> Clock:
    return JumpingClock()


async def sent_pair(running: Running, target: str, **more: Any) -> dict[str, Any]:
    """Send to a fresh number and `target` in one request; `target`'s message."""
    answer = await running.client.post("/v1/messages", json=send_body(
        running, [fresh_number(), target], **more))
    assert answer.status_code == 200, answer.text
    return answer.json()["messages"][1]  # type: ignore[no-any-return]


async def diagnosis(running: Running, message_id: str, final: bool = True) -> dict[str, Any]:
    async def answer() -> dict[str, Any] | None:
        got = await running.client.get(f"/v1/messages/{message_id}/diagnosis")
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body if not final or body["message"]["status"] != "waiting" else None
    return await eventually(answer, what=f"final status of {message_id}")  # type: ignore[no-any-return]


def verdict(body: dict[str, Any]) -> tuple[str, str]:
    return body["verdict"]["cause"], body["verdict"]["side"]


def refused_by(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["rule"], s["code"]) for s in body["policy"] if s["verdict"] == "refused"]


async def test_flow_control_names_the_window_and_when_it_frees(running: Running) -> None:
    number = fresh_number()
    first = await running.client.post("/v1/messages", json=send_body(running, [number]))
    assert first.json()["code"] == "OK"
    message = await sent_pair(running, number)
    body = await diagnosis(running, message["message_id"])
    assert verdict(body) == ("flow_control", "platform")
    assert refused_by(body) == [("frequency", "isv.BUSINESS_LIMIT_CONTROL")]
    what, todo = body["verdict"]["what"], body["verdict"]["todo"]
    assert "verification codes: same signature and number, 1 per minute" in what["en"]
    frees = (running.yz.clock.now().replace(second=0, microsecond=0)
             + timedelta(minutes=1)).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    assert frees in todo["en"] and "whitelist" in todo["en"]
    assert "触发流控限制" in what["zh"] and "白名单" in todo["zh"]
    assert f"{frees}:00（北京时间）" in todo["zh"]
    assert body["frequency"]["recorded"] is True


async def test_platform_blacklist_names_its_source_and_date(running: Running) -> None:
    number = fresh_number()
    await running.yz.store.add_blacklisted([BlacklistEntry(
        PhoneNumber(f"+86{number}"), (), "12321 complaint", running.yz.clock.now())])
    body = await diagnosis(running, (await sent_pair(running, number))["message_id"])
    assert verdict(body) == ("platform_blacklist", "platform")
    assert refused_by(body) == [("blacklist", "isv.MOBILE_IN_BLACKLIST")]
    assert body["lists"]["blacklist"][0]["source"] == "12321 complaint"
    assert "source 12321 complaint" in body["verdict"]["what"]["en"]
    assert "请勿再向该号码发送" in body["verdict"]["todo"]["zh"]


@pytest.mark.parametrize("code", ["W-BLACK", "DB:0141"])
async def test_carrier_blacklist_codes(running: Running, code: str) -> None:
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome(code, delay=0.01)
    body = await diagnosis(running, (await sent_pair(running, number))["message_id"])
    assert verdict(body) == ("carrier_blacklist", "carrier")
    assert [r["code"] for r in body["receipts"]] == [code]
    assert "12321" in body["verdict"]["what"]["en"] and "12321" in body["verdict"]["what"]["zh"]
    assert body["push"]["outcome"] == "not_configured"


async def test_keyword_interception_platform_account_and_carrier(running: Running) -> None:
    store, account, now = running.yz.store, running.demo.account, running.yz.clock.now()
    await store.add_keywords(None, ["赌博"], now)
    await store.add_keywords(account.id, ["8848"], now)
    carrier = fresh_number()
    running.simulator.script.numbers[carrier] = Outcome("MK:0115", delay=0.01)
    tenant = Tenant(running, running.demo.key.id, running.demo.key.secret)
    phones = [fresh_number(), fresh_number(), fresh_number(), carrier]
    sign = running.demo.signature.name

    async def batch() -> Any:
        return await tenant.call(
            "SendBatchSms", PhoneNumberJson=json.dumps(phones),
            SignNameJson=json.dumps([sign] * 4), TemplateCode=running.verification,
            TemplateParamJson=json.dumps([{"code": "1"}, {"code": "赌博"}, {"code": "8848"},
                                          {"code": "2"}]))
    sent = await eventually(lambda: _ok(batch()), what="the keyword lists loaded")
    found = await store.messages_of(account.id, biz_id=sent.body["BizId"])
    ids = {m.phone[3:]: str(m.id) for m in found}
    platform = await diagnosis(running, ids[phones[1]])
    assert verdict(platform) == ("keyword_platform", "platform")
    assert "keyword '赌博' (platform list)" in platform["verdict"]["what"]["en"]
    own = await diagnosis(running, ids[phones[2]])
    assert verdict(own) == ("keyword_account", "tenant")
    carried = await diagnosis(running, ids[carrier])
    assert verdict(carried) == ("keyword_carrier", "carrier")
    assert "内容关键字拦截" in carried["verdict"]["what"]["zh"]


async def _ok(call: Any) -> Any:
    outcome = await call
    return outcome if outcome.code == "OK" else None


async def refused_message(running: Running, number: str, template: str) -> dict[str, Any] | None:
    message = await sent_pair(running, number, template_code=template,
                              template_param={"discount": "8"})
    return message if message["status"] == "failed" else None


async def test_signature_not_registered_on_the_carrier(running: Running) -> None:
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome("MB:1077", delay=0.01)
    body = await diagnosis(running, (await sent_pair(running, number))["message_id"])
    assert body["message"]["error_code"] == "isv.SIGN_NOT_REGISTERED"
    assert verdict(body) == ("signature_not_registered", "tenant")
    assert body["receipts"][0]["code"] == "MB:1077"
    assert "签名实名制报备问题" in body["verdict"]["what"]["zh"]
    assert "5-7 working days" in body["verdict"]["todo"]["en"]


async def jump_after_submit(running: Running, message: dict[str, Any],
                            delta: timedelta) -> None:
    """Once `message` is submitted, move the clock `delta` forward."""
    store, account = running.yz.store, running.demo.account

    async def submitted() -> bool:
        found = await store.message(account.id, int(message["message_id"]))
        return found is not None and found.submitted_at is not None
    await eventually(submitted, what="the submit")
    clock = running.yz.clock
    assert isinstance(clock, JumpingClock)
    clock.jump(delta)


async def test_handset_off_then_on_is_delivered_late(running: Running) -> None:
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome("DELIVRD", delay=0.5)
    message = await sent_pair(running, number)
    await jump_after_submit(running, message, timedelta(hours=2))  # the handset comes back
    body = await diagnosis(running, message["message_id"])
    assert verdict(body) == ("delivered_late", "handset")
    assert "(2 h 0 min later)" in body["verdict"]["what"]["en"]
    assert "开机后收到了短信" in body["verdict"]["what"]["zh"]


async def test_expired(running: Running) -> None:
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome("EXPIRED", delay=0.01)
    body = await diagnosis(running, (await sent_pair(running, number))["message_id"])
    assert verdict(body) == ("expired", "handset")
    assert body["explanation"]["cause"].startswith("not delivered within the validity")


async def test_unknown_after_72_hours(running: Running) -> None:
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome("DELIVRD", delay=3600)
    message = await sent_pair(running, number)
    store = running.yz.store
    await jump_after_submit(running, message, timedelta(hours=73))
    now = running.yz.clock.now()
    assert await store.sweep_waiting(now - timedelta(hours=72), now) >= 1  # the sweeper's run
    body = await diagnosis(running, message["message_id"])
    assert verdict(body) == ("unknown_after_72_hours", "carrier")
    assert "72 hours" in body["verdict"]["what"]["en"] and body["receipts"] == []


async def test_us_canada_without_a_toll_free_number(running: Running) -> None:
    body = await diagnosis(running, (await sent_pair(running, "+12025550123"))["message_id"])
    assert verdict(body) == ("us_canada_toll_free", "tenant")
    assert refused_by(body) == [("international.country", "isv.COUNTRY_REGISTRATION_REQUIRED")]
    assert "TFN" in body["verdict"]["what"]["zh"]


async def test_vietnam_without_a_sender_id(running: Running) -> None:
    notification = running.demo.templates[TemplateType.NOTIFICATION].code
    message = await sent_pair(running, "+84912345678", template_code=notification,
                              template_param={"order": "1"})
    body = await diagnosis(running, message["message_id"])
    assert verdict(body) == ("vietnam_sender_id", "tenant")
    assert "SenderID" in body["verdict"]["what"]["zh"] and "OTP" in body["verdict"]["what"]["en"]


async def test_number_in_a_virtual_operators_segment(running: Running) -> None:
    body = await diagnosis(running, (await sent_pair(running, "17012345678"))["message_id"])
    assert verdict(body) == ("virtual_operator_segment", "platform")
    assert "虚拟运营商" in body["verdict"]["what"]["zh"]


async def test_delivered_and_pushed(running: Running) -> None:
    await running.client.put("/v1/push", json={"receipt_url": "queue"})
    body = await diagnosis(running, (await sent_pair(running, fresh_number()))["message_id"])
    assert verdict(body) == ("delivered", "none")
    assert [s["verdict"] for s in body["policy"]].count("refused") == 0
    assert body["push"]["receipt_url"] == "queue" and body["push"]["outcome"] == "pending"
    assert [p["topic"] for p in body["push"]["pending"]] == ["SmsReport"]


async def test_another_accounts_message_is_not_found(running: Running) -> None:
    message = await sent_pair(running, fresh_number())
    store, now = running.yz.store, running.yz.clock.now()
    other = await store.create_account("other", now)
    key = await store.create_access_key(other.id, now)
    answer = await running.client.get(f"/v1/messages/{message['message_id']}/diagnosis",
                                      auth=(key.id, key.secret))
    assert answer.status_code == 404 and answer.json()["code"] == "MessageNotFound"
    by_number = await running.client.get("/v1/diagnosis", auth=(key.id, key.secret), params={
        "phone_number": message["phone_number"]})
    assert by_number.json()["messages"] == []


async def test_a_whitelisted_number_still_limited_by_the_carrier(running: Running) -> None:
    """The FAQ's "why does flow control still fire after I whitelisted the number": a GB
    code is the carrier's own limit."""
    number = fresh_number()
    settings = running.yz.api.services.frequency_settings
    await settings.set_whitelisted(running.demo.account.id, f"+86{number}", True, "ops",
                                   running.yz.clock.now())
    running.simulator.script.numbers[number] = Outcome("GB:0002", delay=0.01)
    body = await diagnosis(running, (await sent_pair(running, number))["message_id"])
    assert verdict(body) == ("carrier_flow_control", "carrier")
    assert body["lists"]["whitelisted_since"] is not None
    assert "on the account's whitelist since" in body["verdict"]["what"]["en"]
    assert "平台白名单不能解除运营商侧的流控限制" in body["verdict"]["todo"]["zh"]


async def test_submit_attempts_while_the_carrier_throttles(running: Running) -> None:
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome(submit="throttle")
    message = await sent_pair(running, number)

    async def retried() -> dict[str, Any] | None:
        body = await diagnosis(running, message["message_id"], final=False)
        queued = body["dispatch"]["queued"]
        return body if queued and queued[0]["attempts"] >= 2 else None
    body = await eventually(retried, what="two submit attempts")
    assert verdict(body) == ("not_yet_submitted", "platform")
    assert "simulator: throttled" in body["dispatch"]["queued"][0]["last_error"]
    assert "attempts, last:" in body["verdict"]["what"]["en"]


async def test_a_submit_the_carrier_rejects(running: Running) -> None:
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome(submit="reject:ESME_RINVDSTADR")
    body = await diagnosis(running, (await sent_pair(running, number))["message_id"])
    assert verdict(body) == ("carrier_code", "carrier")
    assert body["message"]["error_code"] == "ESME_RINVDSTADR"
    assert body["dispatch"]["route"] and body["receipts"] == []
    assert "SMPP gateway refused the submit" in body["verdict"]["what"]["en"]
