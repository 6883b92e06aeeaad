"""The receipt stage's sink: one receipt or a batch, stored before the call returns."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ManualClock
from tests.storage.test_store import make_messages
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import Accepted, SubmitOutcome
from yizhan.receipts.correlate import ReceiptStage
from yizhan.storage.store import SqlStore


async def test_a_batch_of_receipts_is_stored_before_many_returns(store: SqlStore,
                                                                 clock: ManualClock) -> None:
    made = await make_messages(store, clock, 3)
    claims, _ = await store.claim_dispatch(clock.now(), 10, timedelta(minutes=5))
    await store.finish_submits([SubmitOutcome(c, "sim", Accepted(f"r{i}"))
                                for i, c in enumerate(claims)], clock.now())
    stage = ReceiptStage(store, clock)
    await stage.start()
    try:
        await stage.on_event.many([
            Receipt("sim", "r0", "DELIVRD", clock.now()),
            Receipt("sim", "r1", "UNDELIV", clock.now()),
            Uplink("sim", "+8613800138000", "1069", "R", clock.now())])
        # stored by now: no waiting
        first = await store.message(made[0].account_id, made[0].id)
        second = await store.message(made[1].account_id, made[1].id)
        third = await store.message(made[2].account_id, made[2].id)
        await stage.on_event(Receipt("sim", "r2", "DELIVRD", clock.now()))
        last = await store.message(made[2].account_id, made[2].id)
    finally:
        await stage.stop()
    assert first and first.status is MessageStatus.SUCCESS
    assert second and second.status is MessageStatus.FAILED and second.error_code == "UNDELIV"
    assert third and third.status is MessageStatus.WAITING
    assert last and last.status is MessageStatus.SUCCESS
