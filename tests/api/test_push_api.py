"""Receipts and replies through the running platform: push settings over the native API,
receipts pushed to a real receiver, the pull queue (native and Alibaba-style, with its
visibility timeout), review results, statistics and the failed-numbers export."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ManualClock, Running, eventually, start_running
from tests.webhooks.receiver import Receiver
from yizhan.dispatch.channels.simulator import Outcome
from yizhan.domain.model import ReviewState, SignatureScenario
from yizhan.domain.ports import Clock
from yizhan.domain.timezone import china_today
from yizhan.storage.store import SqlStore
from yizhan.webhooks import signing


@pytest.fixture
async def running(store: SqlStore, tmp_path: Path, running_clock: Clock,
                  ) -> AsyncIterator[Running]:
    """The platform with pushes allowed to this machine, where the receivers listen
    (issue 14 point 4: loopback is refused otherwise)."""
    async with start_running(store, tmp_path, running_clock,
                             push_allowed_networks=["127.0.0.0/8"]) as started:
        yield started


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def send(running: Running, *phones: str) -> str:
    answer = await running.client.post("/v1/messages", json={
        "phone_numbers": list(phones), "sign_name": running.demo.signature.name,
        "template_code": running.verification, "template_param": {"code": "1234"},
        "out_id": "o-7"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["biz_id"])


async def test_receipts_are_pushed_signed_to_the_configured_url(
        running: Running, receiver: Receiver) -> None:
    put = await running.client.put("/v1/push", json={"receipt_url": receiver.url})
    assert put.status_code == 200 and put.json()["receipt_url"] == receiver.url
    secret = (await running.client.get("/v1/push")).json()["secret"]
    running.simulator.script.numbers["13900000002"] = Outcome(code="UNDELIV", delay=0.01)
    biz_id = await send(running, "13900000001", "13900000002")
    items = await eventually(lambda: _async(receiver.items() if len(receiver.items()) == 2
                                            else None), what="two receipts pushed")
    by_phone = {i["phone_number"]: i for i in items}
    assert by_phone["13900000001"]["success"] is True
    assert by_phone["13900000001"]["err_code"] == "DELIVERED"
    assert by_phone["13900000002"]["success"] is False
    assert by_phone["13900000002"]["err_code"] == "UNDELIV"
    assert {i["biz_id"] for i in items} == {biz_id} and items[0]["out_id"] == "o-7"
    batch = receiver.taken[0]
    assert signing.verify(secret, batch.headers, batch.body, time.time())


async def test_push_settings_are_checked(running: Running) -> None:
    bad = await running.client.put("/v1/push", json={"receipt_url": "ftp://x"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameter"
    off = await running.client.get("/v1/queue/SmsReport")
    assert off.status_code == 409 and off.json()["code"] == "QueueNotEnabled"
    first = (await running.client.put("/v1/push", json={"uplink_url": "queue"})).json()
    again = (await running.client.put("/v1/push", json={"new_secret": True})).json()
    assert first["uplink_url"] == again["uplink_url"] == "queue"
    assert first["secret"] != again["secret"]


async def test_the_pull_queue_long_polls_hides_received_items_and_deletes_acknowledged_ones(
        store: SqlStore, tmp_path: Path) -> None:
    clock = ManualClock()  # the long poll's wait and the visibility timeout are on it
    async with start_running(store, tmp_path, clock) as running:
        await running.client.put("/v1/push", json={"receipt_url": "queue"})
        empty = await running.client.get("/v1/queue/SmsReport", params={"wait_seconds": 0})
        assert empty.json()["items"] == []
        polling = asyncio.create_task(running.client.get(
            "/v1/queue/SmsReport", params={"wait_seconds": 8, "visibility_seconds": 1}))
        await clock.sleepers(1)  # the long poll waits between reads of the queue
        assert not polling.done()
        await send(running, "13900000003")
        account = running.demo.account.id
        await eventually(lambda: running.yz.store.pending_pushes(account), what="receipt queued")
        clock.advance(seconds=0.2)  # the long poll's next read finds it
        [item] = (await asyncio.wait_for(polling, 10)).json()["items"]
        assert item["message_type"] == "SmsReport" and item["receive_count"] == 1
        assert item["body"]["phone_number"] == "13900000003"
        assert item["body"]["err_msg"] == "用户接收成功"
        hidden = await running.client.get("/v1/queue/SmsReport")
        assert hidden.json()["items"] == []
        clock.advance(seconds=0.99)
        hidden = await running.client.get("/v1/queue/SmsReport")
        assert hidden.json()["items"] == []
        # Not acknowledged within the visibility timeout: received again.
        clock.advance(seconds=0.02)
        [again] = (await running.client.get("/v1/queue/SmsReport")).json()["items"]
        assert again["receipt_handle"] == item["receipt_handle"] and again["receive_count"] == 2
        ack = await running.client.post("/v1/queue/SmsReport/ack",
                                        json={"receipt_handles": [again["receipt_handle"]]})
        assert ack.json()["deleted"] == 1
        clock.advance(seconds=1.1)
        gone = await running.client.get("/v1/queue/SmsReport")
        assert gone.json()["items"] == []


async def test_alibaba_style_queue_actions(running: Running,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    await running.client.put("/v1/push", json={"receipt_url": "queue"})
    await send(running, "13900000004")
    received = await asyncio.to_thread(_common, running, "ReceivePushItems",
                                       MessageType="SmsReport", WaitSeconds="5")
    [item] = received["Items"]
    assert item["MessageBody"]["phone_number"] == "13900000004"
    deleted = await asyncio.to_thread(_common, running, "DeletePushItems",
                                      ReceiptHandles=item["ReceiptHandle"])
    assert deleted["Code"] == "OK" and deleted["DeletedCount"] == 1


def _common(running: Running, action: str, **params: str) -> dict[str, Any]:
    """A call through the official legacy SDK's CommonRequest (the form docs/push.md shows)."""
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest

    port = int(running.base_url.rsplit(":", 1)[1])
    client = AcsClient(running.demo.key.id, running.demo.key.secret, "cn-hangzhou", port=port)
    request = CommonRequest(domain="127.0.0.1", version="2017-05-25", action_name=action)
    request.set_method("POST")
    request.set_protocol_type("http")
    for name, value in params.items():
        request.add_query_param(name, value)
    body: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return body


async def test_review_results_are_pushed(running: Running, receiver: Receiver) -> None:
    await running.client.put("/v1/push", json={"review_url": receiver.url})
    store, now = running.yz.store, running.yz.clock.now()
    sig = await store.create_signature(running.demo.account.id, "新店", SignatureScenario.GENERAL,
                                       ReviewState.PENDING, now)
    await store.review_signature(sig.id, ReviewState.REJECTED, "name not in the company name")
    tpl = running.demo.templates
    code = next(iter(tpl.values())).code
    await store.review_template(code, ReviewState.APPROVED)
    await eventually(lambda: _async(len(receiver.taken) == 2), what="two review pushes")
    by_topic = {b.headers["x-yizhan-topic"]: b.items[0] for b in receiver.taken}
    assert by_topic["SignSmsReport"]["sign_name"] == "新店"
    assert by_topic["SignSmsReport"]["audit_status"] == "AUDIT_STATE_NOT_PASS"
    assert by_topic["SignSmsReport"]["audit_remark"] == "name not in the company name"
    assert by_topic["TemplateSmsReport"]["template_code"] == code
    assert by_topic["TemplateSmsReport"]["audit_status"] == "AUDIT_STATE_PASS"


async def test_statistics_and_failed_numbers_match_the_records(running: Running) -> None:
    running.simulator.script.numbers["13900000006"] = Outcome(code="MK:0001", delay=0.01)
    biz_id = await send(running, "13900000005", "13900000006", "18900000007")
    store, account = running.yz.store, running.demo.account.id

    async def final() -> bool:
        return all(m.status.final for m in await store.messages_by_biz(account, biz_id))

    await eventually(final, what="every message final")
    today = china_today(running.yz.clock.now()).isoformat()
    stats = (await running.client.get("/v1/statistics", params={
        "start_date": today, "group_by": "day,carrier"})).json()["rows"]
    by_carrier = {r["carrier"]: r for r in stats}
    assert by_carrier["china_mobile"] == {"day": today.replace("-", ""), "carrier": "china_mobile",
                                    "sent": 2, "success": 1, "failed": 1, "unknown": 0,
                                    "waiting": 0, "billed_parts": 1, "success_rate": 0.5}
    assert by_carrier["china_telecom"]["success"] == 1
    csv_by_biz = await running.client.get("/v1/exports/failed-numbers",
                                          params={"biz_id": biz_id})
    assert csv_by_biz.headers["content-type"].startswith("text/csv")
    lines = csv_by_biz.text.splitlines()
    assert lines[0].startswith("phone_number,status,error_code")
    assert [line.split(",")[:3] for line in lines[1:]] == [["13900000006", "failed", "MK:0001"]]
    csv_by_day = await running.client.get("/v1/exports/failed-numbers",
                                          params={"start_date": today})
    assert csv_by_day.text == csv_by_biz.text
    # RFC 6266: one filename, and its UTF-8 form in filename* (issue 14 point 5).
    name = f"failed-{biz_id.split('^')[0]}.csv"
    assert csv_by_biz.headers["content-disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}")


async def test_failed_numbers_say_whether_a_resend_can_succeed(running: Running) -> None:
    """Issue 14 point 19: the `resend` column tells numbers never to send to again (a virtual
    operator, an empty number) from those a resend can reach (handset off) and those that
    need other content (carrier spam interception); `retryable_only` keeps the reachable."""
    running.simulator.script.numbers["13900000016"] = Outcome(code="MK:0001", delay=0.01)
    running.simulator.script.numbers["13900000017"] = Outcome(code="UNDELIV", delay=0.01)
    running.simulator.script.numbers["13900000018"] = Outcome(code="MK:0115", delay=0.01)
    biz_id = await send(running, "13900000015", "13900000016", "13900000017", "13900000018",
                        "17012345678")
    store, account = running.yz.store, running.demo.account.id

    async def final() -> bool:
        return all(m.status.final for m in await store.messages_by_biz(account, biz_id))

    await eventually(final, what="every message final")
    exported = await running.client.get("/v1/exports/failed-numbers", params={"biz_id": biz_id})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["phone_number"]: (r["error_code"], r["resend"]) for r in rows} == {
        "13900000016": ("MK:0001", "no"),
        "13900000017": ("UNDELIV", "yes"),
        "13900000018": ("MK:0115", "after-change"),
        "17012345678": ("isv.MOBILE_NUMBER_ILLEGAL", "no"),
    }
    only = await running.client.get("/v1/exports/failed-numbers",
                                     params={"biz_id": biz_id, "retryable_only": "true"})
    assert only.status_code == 200
    assert [r["phone_number"] for r in csv.DictReader(io.StringIO(only.text))] == [
        "13900000017"]


async def _async(value: Any) -> Any:
    return value
