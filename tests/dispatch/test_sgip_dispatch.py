"""An SGIP channel from a channel file, end to end on a real store: outbox -> Submit ->
simulated China Unicom gateway -> its connection back with Reports -> receipt stage ->
message status; a message whose Submit went out unanswered becomes unknown and is never sent
again; with `registration = true`, a signature the carrier has not registered fails with the
platform's registration code until it is registered. Also what the channel file accepts and
refuses for `kind = "sgip"`."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ManualClock, eventually
from tests.storage.test_store import make_messages
from yizhan.api.rest.messages import message_json
from yizhan.backends.local import LocalBus
from yizhan.cli.demo import register
from yizhan.dispatch.channel_file import PlanError, build_plan, code_book, parse_plan
from yizhan.dispatch.channels.sgip import SgipChannel
from yizhan.dispatch.channels.sgip_pdu import Result
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.codes import SIGN_NOT_REGISTERED, explain
from yizhan.domain.model import Message, MessageStatus, ReviewState, SignatureScenario
from yizhan.receipts.correlate import ReceiptStage
from yizhan.simulator.registry import RegisteredSubPorts
from yizhan.simulator.sgip_smg import ConnectBack, SmgServer
from yizhan.simulator.smsc import SmscServer
from yizhan.storage.store import SqlStore

CHANNEL = """
[[channel]]
name = "cucc"
kind = "sgip"
host = "127.0.0.1"
port = {port}
login_name = "yizhan"
password = "s3cret"
node = 3057112345
corp_id = "12345"
channel_code = "55"
service_type = "YZ"
carrier = "china_unicom"
listen_host = "127.0.0.1"
listen_port = 0
listen_login_name = "unicom"
listen_password = "back"
window = 8
reconnect_min = 0.05
retryable = ["SYSTEM_FAILURE", 33]
"""


async def test_messages_reach_their_receipts_through_sgip(store: SqlStore,
                                                          clock: ManualClock) -> None:
    smg = SmgServer(Script(default=Outcome(delay=0.01), numbers={
        "13800000001": Outcome(code="29", delay=0.01),
        "13800000002": Outcome(submit="drop")}), accounts={"yizhan": "s3cret"})
    port = await smg.start()
    built = build_plan(parse_plan(CHANNEL.format(port=port)), clock, smsc=SmscServer)
    (channel,) = built.channels
    assert isinstance(channel, SgipChannel) and built.registrars == {}
    stage = ReceiptStage(store, clock, match_every=0.05)
    await stage.start()
    await channel.start(stage.on_event)
    smg.connect_back["yizhan"] = ConnectBack("127.0.0.1", channel.listen_port, "unicom", "back")
    await asyncio.wait_for(channel.bound.wait(), 5)
    try:
        good = await make_messages(store, clock, 20)
        empty = await make_messages(store, clock, 1, phone="+8613800000001")
        worker = DispatchWorker(store, Router.single([channel], "cucc", clock=clock),
                                LocalBus(), clock, DispatchConfig(window=8))
        assert await worker.run_once() == 21

        async def settled() -> bool:
            found = [await store.message(m.account_id, m.id) for m in [*good, *empty]]
            return all(f and f.status is not MessageStatus.WAITING for f in found)

        await eventually(settled, what="receipts stored")
        for m in good:
            found = await store.message(m.account_id, m.id)
            assert found and found.status is MessageStatus.SUCCESS
        failed = await store.message(empty[0].account_id, empty[0].id)
        assert failed and (failed.status, failed.error_code) == (MessageStatus.FAILED, "MK:0001")
        cut = await make_messages(store, clock, 1, phone="+8613800000002")
        assert await worker.run_once() == 1
        unknown = await store.message(cut[0].account_id, cut[0].id)
        assert unknown and unknown.status is MessageStatus.UNKNOWN
        assert "link lost" in unknown.reason
        assert await worker.run_once() == 0  # nothing is left to (re)send
        assert smg.submitted == 21 and smg.reports_acked == 21
    finally:
        await channel.stop()
        await stage.stop()
        await smg.stop()


def test_the_channel_file_reads_an_sgip_channel() -> None:
    plan = parse_plan(CHANNEL.format(port=8801))
    (spec,) = plan.channels
    assert spec.address == "127.0.0.1:8801"
    sub_port = spec.sub_port("0042")
    assert sub_port is not None and sub_port.number == "106550042"
    channel = build_plan(plan, ManualClock(), smsc=SmscServer).channels[0]
    assert isinstance(channel, SgipChannel)
    assert channel.config.retryable == {Result.SYSTEM_FAILURE, Result.SMSC_QUEUE_FULL}
    assert (channel.config.node, channel.sp_number) == (3057112345, "10655")
    info = code_book(plan).explain("cucc", "SGIP:026")  # China Unicom's table by default
    assert info is not None and "memory is full" in info.cause


@pytest.mark.parametrize(("old", "new", "complaint"), [
    ('login_name = "yizhan"\n', "", r"missing setting\(s\) login_name"),
    ("window = 8\n", 'system_id = "x"\n', r"unknown setting\(s\) system_id"),
    ('retryable = ["SYSTEM_FAILURE", 33]\n', 'retryable = ["NO_SUCH"]\n',
     "retryable: unknown SGIP Result 'NO_SUCH'"),
])
def test_a_wrong_sgip_channel_is_refused_with_the_reason(old: str, new: str,
                                                         complaint: str) -> None:
    text = CHANNEL.format(port=1).replace(old, new)
    with pytest.raises(PlanError, match="channels.toml: channel 'cucc': " + complaint):
        parse_plan(text, "channels.toml")


async def test_an_unregistered_signature_fails_through_sgip_until_it_is_registered(
        store: SqlStore, clock: ManualClock) -> None:
    """Real-name registration on an SGIP channel (`registration = true`): the simulated
    China Unicom gateway fails a signature not registered on the sub-port with its
    ErrorCode, which the shipped table reads as `isv.SIGN_NOT_REGISTERED`, explained in the
    record as on every other protocol; once the carrier's acceptance is recorded, the same
    message is delivered."""
    view = RegisteredSubPorts(store.usable_sub_ports)
    await view.refresh()
    smg = SmgServer(Script(default=Outcome(delay=0.01)), accounts={"yizhan": "s3cret"},
                    records=view, enforcing=["yizhan"])
    port = await smg.start()
    plan = parse_plan(CHANNEL.format(port=port) + "registration = true\n")
    built = build_plan(plan, clock, smsc=SmscServer)
    (channel,) = built.channels
    assert isinstance(channel, SgipChannel)
    stage = ReceiptStage(store, clock, match_every=0.05)
    await stage.start()
    await channel.start(stage.on_event)
    smg.connect_back["yizhan"] = ConnectBack("127.0.0.1", channel.listen_port, "unicom", "back")
    await asyncio.wait_for(channel.bound.wait(), 5)
    worker = DispatchWorker(store, Router.single([channel], "cucc", clock=clock),
                            LocalBus(), clock, DispatchConfig(window=8))

    async def send() -> dict[str, object]:
        (made,) = await make_messages(store, clock, 1)  # 【驿站】 from the channel's 10655

        async def final() -> Message | None:
            found = await store.message(made.account_id, made.id)
            return found if found and found.status is not MessageStatus.WAITING else None

        assert await worker.run_once() == 1
        return message_json(await eventually(final, what="the receipt"), code_book(plan))

    try:
        failed = await send()
        assert (failed["status"], failed["error_code"]) == ("failed", SIGN_NOT_REGISTERED)
        info = explain(SIGN_NOT_REGISTERED)
        assert info is not None
        assert (failed["reason"], failed["suggestion"]) == (info.cause, info.suggestion)
        assert str(failed["reason"]).startswith("签名实名制报备问题")

        account = await store.account_by_name("acme")
        assert account is not None
        signature = await store.create_signature(account.id, "驿站", SignatureScenario.GENERAL,
                                                 ReviewState.APPROVED, clock.now())
        assert [p.number for p in plan.sub_ports("")] == ["10655"]
        await register(store, signature, plan.sub_ports(""), clock.now())
        await view.refresh()  # the carrier reads the platform's record
        delivered = await send()
        assert (delivered["status"], delivered["error_code"]) == ("success", "DELIVERED")
        assert smg.submitted == 2
    finally:
        await channel.stop()
        await stage.stop()
        await smg.stop()
