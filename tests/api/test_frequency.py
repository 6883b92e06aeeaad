"""Frequency control through the native REST API of a running server: the refusal a user
sees, explain, the account's limits, whitelist and audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Running
from yizhan.domain.model import TemplateType
from yizhan.domain.ports import Clock, SystemClock
from yizhan.storage.frequency import FrequencySettings

CODE = "isv.BUSINESS_LIMIT_CONTROL"


class MinuteStartClock(SystemClock):
    """Real time, shifted so that a test starts at the beginning of a clock minute: these
    tests count sends in one minute window, and on the real clock a test could straddle two
    (its first send counted in one minute, its check made in the next)."""

    def __init__(self) -> None:
        real = datetime.now(UTC)
        self._offset = real.replace(second=0, microsecond=0) + timedelta(minutes=1) - real

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


@pytest.fixture
def running_clock() -> Clock:
    return MinuteStartClock()


async def send(running: Running, phones: list[str], lang: str = "en",
               template: str | None = None) -> tuple[int, dict]:
    answer = await running.client.post("/v1/messages", headers={"Accept-Language": lang},
                                       json={"phone_numbers": phones,
                                             "sign_name": running.demo.signature.name,
                                             "template_code": template or running.verification,
                                             "template_param": {"code": "1", "order": "1"}})
    return answer.status_code, answer.json()


async def explain(running: Running, phone: str) -> dict:
    answer = await running.client.get("/v1/frequency/explain", params={
        "sign_name": running.demo.signature.name, "template_code": running.verification,
        "phone_number": phone})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_second_code_within_a_minute_answers_429_with_the_limit(running: Running) -> None:
    status, first = await send(running, ["13800138000"])
    assert status == 200 and first["code"] == "OK"
    status, second = await send(running, ["13800138000"], "zh-CN")
    assert status == 429 and second["code"] == CODE
    assert second["message"].startswith("触发号码频率限制（流控）")
    assert "verification codes: same signature and number, 1 per minute" in second["message"]
    assert "触发分钟级流控Permits:1" in second["message"]
    status, mixed = await send(running, ["13800138000", "13900139000"])
    assert status == 200
    assert [m["status"] for m in mixed["messages"]] == ["failed", "waiting"]


async def test_explain_counts_nothing(running: Running) -> None:
    before = await explain(running, "13800138000")
    assert before["passes"] is True and before["whitelisted"] is False
    assert [w["rule"] for w in before["windows"]] == [
        "verification.minute", "verification.hour", "verification.day",
        "verification.number.day"]
    again = await explain(running, "13800138000")
    assert again["windows"] == before["windows"]  # and "earliest" is now, each time
    status, sent = await send(running, ["13800138000"])
    assert status == 200 and sent["code"] == "OK"
    after = await explain(running, "13800138000")
    assert after["passes"] is False
    minute = after["windows"][0]
    assert (minute["count"], minute["max"], minute["blocking"]) == (1, 1, True)
    assert after["earliest"] == minute["resets_at"]
    assert [w["count"] for w in after["windows"]] == [1, 1, 1, 1]
    bad = await running.client.get("/v1/frequency/explain", params={
        "sign_name": "nobody", "template_code": running.verification,
        "phone_number": "13800138000"})
    assert bad.json()["code"] == "isv.SMS_SIGNATURE_ILLEGAL"


async def test_account_limits_are_set_validated_audited_and_apply_at_once(
        running: Running) -> None:
    too_high = await running.client.put("/v1/frequency/limits",
                                        json={"limits": {"verification.minute": 2}})
    assert too_high.json()["code"] == "isv.INVALID_PARAMETERS"
    assert "from 1 to 1" in too_high.json()["message"]
    answer = await running.client.put("/v1/frequency/limits",
                                      json={"limits": {"notification.day": 1}})
    assert answer.status_code == 200, answer.text
    day = next(r for r in answer.json()["rules"] if r["rule"] == "notification.day")
    assert (day["platform"], day["account"], day["effective"]) == (50, 1, 1)
    notification = running.demo.templates[TemplateType.NOTIFICATION].code
    assert (await send(running, ["13800138000"], template=notification))[0] == 200
    status, refused = await send(running, ["+8613800138000"], template=notification)
    assert status == 429 and "1 per day (your account's limit)" in refused["message"]
    await running.client.put("/v1/frequency/limits", json={"limits": {"notification.day": None}})
    assert (await send(running, ["13800138000"], template=notification))[0] == 200
    audit = (await running.client.get("/v1/frequency/audit")).json()["changes"]
    assert [(c["item"], c["old"], c["new"]) for c in audit] == [
        ("limit notification.day", "1", "platform default"),
        ("limit notification.day", "platform default", "1")]
    assert audit[0]["actor"] == f"api key {running.demo.key.id}"


async def test_whitelist_needs_an_enterprise_account(running: Running) -> None:
    denied = await running.client.put("/v1/frequency/whitelist/13800138000")
    assert denied.status_code == 403 and denied.json()["code"] == (
        "isv.ENTERPRISE_ACCOUNT_REQUIRED")
    await FrequencySettings(running.yz.store).verify_enterprise(
        running.demo.account.id, "杭州驿站科技有限公司", "operator", running.yz.clock.now())
    added = await running.client.put("/v1/frequency/whitelist/13800138000")
    assert added.status_code == 200 and added.json()["whitelisted"] is True
    for _ in range(3):
        assert (await send(running, ["13800138000"]))[0] == 200
    assert (await explain(running, "13800138000"))["whitelisted"] is True
    listed = (await running.client.get("/v1/frequency/whitelist")).json()["numbers"]
    assert [n["phone_number"] for n in listed] == ["13800138000"]
    await running.client.delete("/v1/frequency/whitelist/13800138000")
    await send(running, ["13800138000"])
    assert (await send(running, ["13800138000"]))[0] == 429
