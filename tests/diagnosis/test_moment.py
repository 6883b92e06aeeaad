"""Issue 18 point 1, "at that moment": the diagnosis of one message shows the frequency
windows and counts the number had when it was sent, and the whitelist, kept in the policy
trail; and the signature's, template's and carrier registration's state at the send beside
today's (docs/diagnosis.md "At the moment of the send")."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.api.test_rest import fresh_number, send_body
from tests.conftest import TEST_MASTER_ENV, Running
from tests.diagnosis.test_causes import diagnosis, running_clock, sent_pair  # noqa: F401
from yizhan.cli.main import app
from yizhan.diagnosis.gather import Facts
from yizhan.diagnosis.inquiry import Diagnosis
from yizhan.diagnosis.moment import registration_then, review_then
from yizhan.diagnosis.report import diagnosis_json, lines
from yizhan.diagnosis.verdicts import judge
from yizhan.domain.model import (
    AccountId,
    BizId,
    Message,
    MessageId,
    PhoneNumber,
    ReviewDecision,
    ReviewState,
    TemplateCode,
    TemplateType,
)
from yizhan.domain.registration import Isp, RegistrationState, SubPortRegistration
from yizhan.domain.timezone import CHINA
from yizhan.policy import rules
from yizhan.storage.frequency import FrequencySettings


async def test_a_number_refused_by_frequency_shows_the_window_limit_and_count(
        running: Running, tmp_path: Path, database: str) -> None:
    number = fresh_number()
    first = await running.client.post("/v1/messages", json=send_body(running, [number]))
    first_id = first.json()["messages"][0]["message_id"]
    refused = await sent_pair(running, number)
    body = await diagnosis(running, refused["message_id"])
    assert body["verdict"]["cause"] == "flow_control"
    frequency = body["frequency"]
    assert frequency["recorded"] is True and frequency["whitelisted"] is False
    [window] = frequency["windows"]  # the first window refused: the others were not checked
    assert (window["rule"], window["window"], window["limit"], window["count"],
            window["refused"]) == ("verification.minute", "minute", 1, 1, True)
    start = datetime.fromisoformat(window["start"])
    assert start.astimezone(CHINA).second == 0
    assert datetime.fromisoformat(window["end"]) - start == timedelta(minutes=1)

    passed = await diagnosis(running, first_id, final=False)
    assert [(w["rule"], w["count"], w["limit"], w["refused"])
            for w in passed["frequency"]["windows"]] == [
        ("verification.minute", 0, 1, False), ("verification.hour", 0, 5, False),
        ("verification.day", 0, 10, False), ("verification.number.day", 0, 40, False)]

    if database != "sqlite":
        return  # the CLI reads the same store; once is enough
    common = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
              "--data-dir", str(tmp_path)]

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, ["diagnose", *args, *common], env=TEST_MASTER_ENV)
        assert result.exit_code == 0, result.output
        return result.output

    text = await asyncio.to_thread(cli, refused["message_id"])
    assert "frequency  verification.minute 1/1 in " in text
    assert "REFUSED; not whitelisted" in text
    assert "signature  approved at the send and now" in text
    assert "template   approved at the send and now" in text
    shown = json.loads(await asyncio.to_thread(cli, refused["message_id"], "--json"))
    assert shown["frequency"]["windows"][0]["count"] == 1


async def test_counts_grow_with_each_send_and_the_day_window_keeps_its_start(
        running: Running) -> None:
    number = fresh_number()
    ids = []
    for _ in range(3):
        answer = await running.client.post("/v1/messages", json=send_body(running, [number]))
        ids.append(answer.json()["messages"][0]["message_id"])
        running.yz.clock.jump(timedelta(minutes=2))  # type: ignore[attr-defined]
    first = await diagnosis(running, ids[0], final=False)
    third = await diagnosis(running, ids[2], final=False)
    windows = {w["rule"]: w for w in third["frequency"]["windows"]}
    assert [w["count"] for w in third["frequency"]["windows"]] == [0, windows[
        "verification.hour"]["count"], 2, 2]  # the hour: 2, or fewer past a clock hour
    # the day window opened with the first message (kept to the second)
    opened = datetime.fromisoformat(first["message"]["created_at"])
    for rule in ("verification.day", "verification.number.day"):
        start = datetime.fromisoformat(windows[rule]["start"])
        assert abs(opened - start) < timedelta(seconds=1)
        assert datetime.fromisoformat(windows[rule]["end"]) - start == timedelta(days=1)


async def test_a_whitelisted_number_is_shown_as_such(running: Running) -> None:
    number = fresh_number()
    await FrequencySettings(running.yz.store).verify_enterprise(
        running.demo.account.id, "杭州驿站科技有限公司", "operator", running.yz.clock.now())
    added = await running.client.put(f"/v1/frequency/whitelist/{number}")
    assert added.status_code == 200, added.text
    message = await sent_pair(running, number)
    body = await diagnosis(running, message["message_id"], final=False)
    # the platform's limits are lifted for it: no window was checked
    assert body["frequency"] == {"recorded": True, "whitelisted": True, "note": "",
                                 "windows": []}


async def test_a_template_rejected_after_the_send_shows_approved_at_the_send(
        running: Running) -> None:
    message = await sent_pair(running, fresh_number())
    store, code = running.yz.store, running.verification
    later = running.yz.clock.now() + timedelta(minutes=5)
    await store.review_template(code, ReviewState.REJECTED, "promotion in a notification",
                                later, "ops")
    body = await diagnosis(running, message["message_id"], final=False)
    template = body["template"]
    assert (template["state"], template["state_at_send"],
            template["state_at_send_source"]) == ("rejected", "approved", "trail")
    assert template["at_send"].startswith("approved at the send; rejected since ")
    assert [c["state"] for c in template["changes_since"]] == ["rejected"]
    signature = body["signature"]
    assert signature["state_at_send"] == signature["state"] == "approved"
    assert signature["at_send"] == "approved at the send and now"


# What the store's rows allow, rule by rule (docs/diagnosis.md "At the moment of the send").

SEND = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def decision(state: ReviewState, at: datetime, action: str = "review") -> ReviewDecision:
    return ReviewDecision("template", "SMS_1", AccountId(1), "ops", state, "", at, action)


def test_review_state_at_the_send_from_the_audited_changes() -> None:
    before = decision(ReviewState.REJECTED, SEND - timedelta(days=1))
    after = decision(ReviewState.APPROVED, SEND + timedelta(hours=1))
    found = review_then("template.approved", None, [before, after], ReviewState.APPROVED,
                        SEND)
    assert (found.then, found.source) == ("rejected", "history")
    assert found.text().startswith("rejected at the send; approved since")
    unchanged = review_then("template.approved", None, [before], ReviewState.REJECTED, SEND)
    assert (unchanged.then, unchanged.changed) == ("rejected", False)
    unknown = review_then("template.approved", None, [after], ReviewState.APPROVED, SEND)
    assert (unknown.then, unknown.source) == (None, "unknown")
    assert "not recorded" in unknown.text()
    deleted = review_then("template.approved", None,
                          [decision(ReviewState.DELETED, SEND - timedelta(hours=1), "delete")],
                          ReviewState.DELETED, SEND)
    assert deleted.then == "deleted"


def row(state: RegistrationState, requested: datetime | None, answered: datetime | None,
        updated: datetime) -> SubPortRegistration:
    return SubPortRegistration(1, AccountId(1), 1, "驿站", Isp.MOBILE, "cmcc", "1069001", state,
                               (), "", None, requested, None, answered, 0, updated)


@pytest.mark.parametrize(("state", "requested", "answered", "updated", "then", "source"), [
    # unchanged since the send: today's state held then
    (RegistrationState.FAILED, -2, -1, -1, "failed", "unchanged"),
    # filed before the send, answered after it: the carrier had not answered then
    (RegistrationState.AWAITING_VERIFICATION, -2, 1, 1, "registering", "filing"),
    # filed after the send: this filing's state then is not kept
    (RegistrationState.REGISTERING, 1, None, 1, None, "unknown"),
    # confirmed before the send, verified by deliveries after it
    (RegistrationState.REGISTERED, -3, -2, 2, "awaiting_verification", "answer"),
])
def test_registration_at_the_send(state: RegistrationState, requested: int | None,
                                  answered: int | None, updated: int, then: str | None,
                                  source: str) -> None:
    def hours(n: int | None) -> datetime | None:
        return None if n is None else SEND + timedelta(hours=n)
    found = registration_then(row(state, hours(requested), hours(answered), SEND
                                  + timedelta(hours=updated)), SEND)
    assert (found.then, found.source) == (then, source)


def test_an_older_trail_without_counts_still_diagnoses() -> None:
    old = "1:+++++++-++--+--++"  # a trail stored before the counts were kept
    message = Message.queued(
        id=MessageId(1), biz_id=BizId("1^0"), account_id=AccountId(1),
        phone=PhoneNumber("+8613800138000"), sign_name="驿站", template_code=TemplateCode("S"),
        template_type=TemplateType.VERIFICATION, content="code 1234", segments=1, out_id="",
        created_at=SEND, policy_trail=old)
    facts = Facts(message=message, steps=rules.read_trail(old))
    diagnosed = Diagnosis(facts, judge(facts))
    shown = diagnosis_json(diagnosed)
    assert shown["frequency"]["recorded"] is False
    assert shown["frequency"]["note"].startswith("not recorded")
    assert shown["policy"][-1] == {"rule": "frequency", "verdict": "passed", "code": ""}
    assert any(line.startswith("  frequency  not recorded") for line in lines(diagnosed))
