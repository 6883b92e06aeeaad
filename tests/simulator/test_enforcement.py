"""The simulated carriers enforce real-name registration as the carriers do (issue 16 point
4): over real SMPP loopback binds (the built-in channels, `registration = true`), a message
whose signature is not registered on the sub-port that carries it is accepted and fails with
the carrier's real-name code, which the platform reports as `isv.SIGN_NOT_REGISTERED` with
the seed's words and what to do; once the carrier's answer is recorded, it is delivered.
The in-process simulator channel does the same. The tenant sees it in the record, in
QuerySendDetails through the official SDK and in the SmsReport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.aliyun.sdk import SdkClient
from tests.api.test_rest import final_messages, send_body
from tests.conftest import ManualClock, Running, eventually, start_running
from yizhan.cli.demo import register
from yizhan.dispatch.channel_file import build_plan, parse_plan
from yizhan.dispatch.channels.simulator import REAL_NAME_CODE, SimulatorChannel
from yizhan.domain.codes import SIGN_NOT_REGISTERED, classify, explain
from yizhan.domain.events import Receipt
from yizhan.domain.model import MessageStatus, ReviewState, SignatureScenario
from yizhan.domain.ports import Accepted, SubmitRequest, SystemClock
from yizhan.domain.timezone import china_today
from yizhan.simulator.registry import RegisteredSubPorts
from yizhan.simulator.smsc import SmscServer
from yizhan.storage.store import SqlStore

SEED = "签名实名制报备问题。应运营商要求，各短信发送通道需完成对应签名的实名制报备"


@pytest.fixture
async def embedded(store: SqlStore, tmp_path: Path) -> AsyncIterator[Running]:
    async with start_running(store, tmp_path, SystemClock(), embedded=True,
                             cache_seconds=0) as started:
        yield started


async def test_an_unregistered_signature_fails_at_the_carrier_until_it_is_registered(
        embedded: Running) -> None:
    store, demo = embedded.yz.store, embedded.demo
    await embedded.client.put("/v1/push", json={"receipt_url": "queue"})
    other = await store.create_signature(demo.account.id, "驿站物流", SignatureScenario.GENERAL,
                                         ReviewState.APPROVED, embedded.yz.clock.now())
    sent = await embedded.client.post("/v1/messages", json=send_body(
        embedded, ["13800138000"], sign_name=other.name))
    assert sent.status_code == 200, sent.text
    [failed] = await final_messages(embedded, sent.json()["biz_id"])
    assert (failed["status"], failed["error_code"]) == ("failed", SIGN_NOT_REGISTERED)
    assert failed["reason"].startswith(SEED)
    assert "5-7" in failed["suggestion"] and "qualification" in failed["suggestion"]
    # The tenant's own tools say the same: QuerySendDetails through the official SDK, and
    # the SmsReport (here pulled from the queue).
    sdk = SdkClient("v4-acs3", int(embedded.base_url.rsplit(":", 1)[1]), demo.key.id,
                    demo.key.secret)
    found = await asyncio.to_thread(
        sdk.call, "QuerySendDetails", PhoneNumber="13800138000", PageSize=10, CurrentPage=1,
        SendDate=china_today(embedded.yz.clock.now()).strftime("%Y%m%d"))
    [dto] = found.body["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
    assert dto["ErrCode"] == SIGN_NOT_REGISTERED

    async def report() -> list[dict[str, Any]]:
        got = await embedded.client.get("/v1/queue/SmsReport", params={"max_items": 10})
        return list(got.json()["items"])

    [item] = await eventually(report, what="the SmsReport")
    assert (item["body"]["err_code"], item["body"]["err_msg"][:len(SEED)]) == (
        SIGN_NOT_REGISTERED, SEED)

    # The demo's signature is registered on every sub-port at creation: delivered.
    sent = await embedded.client.post("/v1/messages", json=send_body(embedded, ["13800138001"]))
    [delivered] = await final_messages(embedded, sent.json()["biz_id"])
    assert delivered["status"] == "success"

    # The carrier's answer recorded by the platform: the carrier accepts it (the simulated
    # carriers read the platform's record every cache_seconds).
    assert embedded.yz.plan is not None
    await register(store, other, embedded.yz.plan.sub_ports(str(other.id)),
                   embedded.yz.clock.now())

    numbers = iter(f"139001390{n:02d}" for n in range(100))

    async def delivered_now() -> bool:
        again = await embedded.client.post("/v1/messages", json=send_body(
            embedded, [next(numbers)], sign_name=other.name))
        assert again.status_code == 200, again.text
        [message] = await final_messages(embedded, again.json()["biz_id"])
        return bool(message["status"] == "success")

    await eventually(delivered_now, what="a delivery once registered")


async def test_the_carrier_checks_the_signature_on_the_sub_port_that_carries_it() -> None:
    registered = {("10690015", "驿站")}

    async def load() -> set[tuple[str, str]]:
        return registered

    view = RegisteredSubPorts(load)
    await view.refresh()
    assert view.registered("10690015", "驿站")
    assert not view.registered("10690015", "别家")  # another signature on the sub-port
    assert not view.registered("10690025", "驿站")  # the same signature elsewhere
    assert view.registered("10690015", "")  # a later part: the sub-port is registered


def test_the_real_name_code_is_the_platforms_code_with_the_seeds_words() -> None:
    assert classify(REAL_NAME_CODE) == (MessageStatus.FAILED, SIGN_NOT_REGISTERED)
    info = explain(SIGN_NOT_REGISTERED)
    assert info is not None and info.cause.startswith(SEED)


async def test_the_in_process_simulator_channel_enforces_registration_too() -> None:
    clock = ManualClock()
    plan = parse_plan('[[channel]]\nname = "m"\nkind = "simulator"\ncarrier = "china_mobile"\n'
                      'registration = true\ndelay = 0\n[[channel]]\nname = "free"\n'
                      'kind = "simulator"\ndelay = 0\n')

    async def load() -> set[tuple[str, str]]:
        return {("m:7", "驿站")}

    view = RegisteredSubPorts(load)
    await view.refresh()
    built = build_plan(plan, clock, smsc=SmscServer, records=view)
    enforced, free = built.channels
    assert isinstance(enforced, SimulatorChannel) and isinstance(free, SimulatorChannel)
    receipts: list[Receipt] = []

    class Sink:
        async def __call__(self, event: Receipt) -> None:
            receipts.append(event)

        async def many(self, events: list[Receipt]) -> None:
            receipts.extend(events)

    for channel in (enforced, free):
        await channel.start(Sink())  # type: ignore[arg-type]
    try:
        for n, (channel, ext, text) in enumerate([
                (enforced, "7", "【驿站】您好"), (enforced, "8", "【驿站】您好"),
                (enforced, "7", "【别家】您好"), (free, "8", "【别家】您好")]):
            assert isinstance(await channel.submit(SubmitRequest(
                n, "+8613800138000", text, 1, extension=ext)), Accepted)

        async def four() -> bool:
            return len(receipts) == 4
        await eventually(four, what="four receipts")
    finally:
        for channel in (enforced, free):
            await channel.stop()
    codes = sorted((r.channel, r.code) for r in receipts)
    assert codes == [("free", "DELIVRD"), ("m", "DELIVRD"), ("m", REAL_NAME_CODE),
                     ("m", REAL_NAME_CODE)]
