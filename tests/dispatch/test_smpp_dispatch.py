"""The dispatch worker over the SMPP channel, end to end on a real store: outbox -> submit_sm
-> simulator SMSC -> deliver_sm -> receipt stage -> message status; and a message whose
submit went out unanswered becomes unknown and is never sent again."""

from __future__ import annotations

import asyncio

from tests.conftest import ManualClock, eventually
from tests.storage.test_store import make_messages
from yizhan.backends.local import LocalBus
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.channels.smsc import SmscServer
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import MessageStatus
from yizhan.receipts.correlate import ReceiptStage
from yizhan.storage.store import SqlStore


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
        worker = DispatchWorker(store, Router.single([channel], "smpp"), LocalBus(), clock,
                                DispatchConfig(window=8))
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
