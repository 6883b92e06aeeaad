"""The dispatch worker over the SMPP channel, end to end on a real store: outbox -> submit_sm
-> simulator SMSC -> deliver_sm -> receipt stage -> message status; and a message whose
submit went out unanswered becomes unknown and is never sent again."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import ManualClock, eventually
from tests.storage.test_store import make_messages
from yizhan.backends.local import LocalBus
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import Message, MessageStatus
from yizhan.domain.ports import UnmatchedReceipt
from yizhan.receipts.correlate import ReceiptStage
from yizhan.runtime.metrics import Metrics
from yizhan.simulator.smsc import SmscServer
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import receipts


async def test_messages_reach_their_receipts_through_smpp(store: SqlStore,
                                                          clock: ManualClock) -> None:
    smsc = SmscServer(Script(default=Outcome(delay=0.01), numbers={
        "13800000001": Outcome(code="MK:0001", delay=0.01),
        "13800000002": Outcome(submit="drop")}), receipt_ids="padded")
    port = await smsc.start()
    channel = SmppChannel(SmppConfig("smpp", "127.0.0.1", port, "yz", reconnect_min=0.05), clock)
    stage = ReceiptStage(store, clock, match_every=0.05)
    await stage.start()
    await channel.start(stage.on_event)
    await asyncio.wait_for(channel.bound.wait(), 5)
    try:
        good = await make_messages(store, clock, 20)
        empty = await make_messages(store, clock, 1, phone="+8613800000001")
        worker = DispatchWorker(store, Router.single([channel], "smpp", clock=clock), LocalBus(),
                                clock, DispatchConfig(window=8))
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
        # a dropped link makes every submit then in flight ambiguous: send this one alone
        cut = await make_messages(store, clock, 1, phone="+8613800000002")
        assert await worker.run_once() == 1
        unknown = await store.message(cut[0].account_id, cut[0].id)
        assert unknown and unknown.status is MessageStatus.UNKNOWN
        assert "link lost" in unknown.reason
        assert await worker.run_once() == 0  # nothing is left to (re)send
        assert smsc.submitted == 21
    finally:
        await channel.stop()
        await stage.stop()
        await smsc.stop()


class Carrier:
    """A channel bound to the simulator SMSC, the receipt stage on a real store, and the
    dispatch worker: a message's whole path over SMPP on loopback."""

    def __init__(self, store: SqlStore, clock: ManualClock, smsc: SmscServer,
                 **config: Any) -> None:
        self.store, self.clock, self.smsc = store, clock, smsc
        self.metrics = Metrics()
        self.config = config
        self.stage = ReceiptStage(store, clock, match_every=0.05, unmatched_after=30,
                                  on_unmatched=self.metrics.unmatched)

    async def __aenter__(self) -> Carrier:
        port = await self.smsc.start()
        self.channel = SmppChannel(SmppConfig("smpp", "127.0.0.1", port, "yz",
                                              reconnect_min=0.05, **self.config), self.clock)
        await self.stage.start()
        await self.channel.start(self.stage.on_event)
        await asyncio.wait_for(self.channel.bound.wait(), 5)
        self.worker = DispatchWorker(self.store,
                                     Router.single([self.channel], "smpp", clock=self.clock),
                                     LocalBus(), self.clock, DispatchConfig(window=8))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.stop()
        await self.stage.stop()
        await self.smsc.stop()

    async def receipts_stored(self, count: int) -> None:
        async def stored() -> bool:
            async with self.store.engine.connect() as conn:
                return bool(await conn.scalar(select(func.count()).select_from(receipts))
                            == count)

        await eventually(stored, 5, f"{count} receipts stored")

    async def statuses(self, made: list[Message]) -> list[MessageStatus]:
        found = [await self.store.message(m.account_id, m.id) for m in made]
        return [f.status for f in found if f is not None]


async def test_a_carrier_writing_receipt_ids_in_decimal_still_delivers(
        store: SqlStore, caplog: pytest.LogCaptureFixture) -> None:
    """issue 14 point 13: submit_sm_resp in hex, receipts in decimal (the channel left at its
    default `ids`): messages stayed waiting, silently. Now they are matched once their
    receipts had their chance to match exactly, with a warning naming the setting."""
    clock = ManualClock(datetime.now(UTC))
    caplog.set_level(logging.INFO, logger="yizhan.receipts")
    smsc = SmscServer(Script(default=Outcome(delay=0)), receipt_ids="decimal")
    async with Carrier(store, clock, smsc) as carrier:
        made = await make_messages(store, clock, 3)
        assert await carrier.worker.run_once() == 3
        await carrier.receipts_stored(3)
        assert await carrier.statuses(made) == [MessageStatus.WAITING] * 3
        clock.advance(seconds=31)

        async def delivered() -> bool:
            return await carrier.statuses(made) == [MessageStatus.SUCCESS] * 3

        await eventually(delivered, 5, "messages delivered")
    assert any("matched 3 receipts by their id written in the other base" in r.getMessage()
               for r in caplog.records)
    assert "yizhan_receipts_unmatched_total{" not in carrier.metrics.render().decode()


async def test_a_receipt_that_matches_nothing_is_logged_counted_and_kept(
        store: SqlStore, caplog: pytest.LogCaptureFixture) -> None:
    """issue 14 point 13: a receipt matching no message rose a counter and nothing else."""
    clock = ManualClock(datetime.now(UTC))
    caplog.set_level(logging.INFO, logger="yizhan.receipts")
    async with Carrier(store, clock, SmscServer(manual=True)) as carrier:
        answer = await carrier.smsc.receipt("0FACE0FF", "UNDELIV")
        assert answer.status == 0
        await carrier.receipts_stored(1)
        clock.advance(seconds=31)

        async def given_up() -> list[UnmatchedReceipt]:
            return await store.unmatched_receipts()

        [kept] = await eventually(given_up, 5, "the receipt given up")
    assert (kept.channel, kept.remote_id, kept.code) == ("smpp", "face0ff", "UNDELIV")
    assert "id:0FACE0FF" in kept.raw
    lines = [r.getMessage() for r in caplog.records if "matches no message" in r.getMessage()]
    assert [line.split(": 'id:")[0] for line in lines] == [
        "channel smpp: receipt for remote id 'face0ff' (UNDELIV) matches no message; kept "
        "(yizhan receipts unmatched)"]
    assert "'id:0FACE0FF sub:001 dlvrd:000" in lines[0]  # as the carrier wrote it
    assert 'yizhan_receipts_unmatched_total{channel="smpp"} 1.0' in \
        carrier.metrics.render().decode()


async def test_a_receipt_resolves_a_message_whose_submit_answer_was_lost(
        store: SqlStore) -> None:
    """issue 14 point 13 (with point 23's addresses and dates): the submit timed out, so the
    message is unknown with no remote id; the carrier's receipt names the handset and the
    submit date, which name that message alone."""
    clock = ManualClock(datetime.now(UTC))
    async with Carrier(store, clock, SmscServer(manual=True),
                       response_timeout=0.2) as carrier:
        made = await make_messages(store, clock, 1, phone="+8613800000009")
        run = asyncio.create_task(carrier.worker.run_once())
        submit = await carrier.smsc.expect()  # never answered
        assert await asyncio.wait_for(run, 10) == 1
        assert await carrier.statuses(made) == [MessageStatus.UNKNOWN]
        await carrier.smsc.receipt("7B", "DELIVRD", of=submit)
        await carrier.receipts_stored(1)
        clock.advance(seconds=31)

        async def resolved() -> bool:
            return await carrier.statuses(made) == [MessageStatus.SUCCESS]

        await eventually(resolved, 5, "the unknown message resolved")
    found = await store.message(made[0].account_id, made[0].id)
    assert found is not None and (found.remote_id, found.error_code) == ("7b", "DELIVERED")
