"""The receipt stage's sink: one receipt or a batch, stored before the call returns."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ManualClock
from tests.storage.test_store import make_messages
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import Message, MessageStatus
from yizhan.domain.ports import Accepted, SubmitOutcome
from yizhan.receipts.correlate import ReceiptStage
from yizhan.storage.store import SqlStore


async def started(store: SqlStore, clock: ManualClock,
                  count: int) -> tuple[list[Message], ReceiptStage]:
    """`count` messages accepted by channel `sim` as r0, r1, ..., and a started stage."""
    made = await make_messages(store, clock, count)
    claims, _ = await store.claim_dispatch(clock.now(), 10, timedelta(minutes=5))
    await store.finish_submits([SubmitOutcome(c, "sim", Accepted(f"r{i}"))
                                for i, c in enumerate(claims)], clock.now())
    stage = ReceiptStage(store, clock)
    await stage.start()
    return made, stage


async def test_a_batch_of_receipts_is_stored_before_many_returns(store: SqlStore,
                                                                 clock: ManualClock) -> None:
    made, stage = await started(store, clock, 3)
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


async def test_a_receipt_keeps_the_status_its_channel_classified_it_with(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 14: the stage classified every receipt again with the platform's
    rules, so a channel table saying `DELIVRD` with err 005 is a failure (without a code of
    its own) was overruled into a delivery."""
    made, stage = await started(store, clock, 2)
    try:
        await stage.on_event.many([
            Receipt("sim", "r0", "DELIVRD", clock.now(), "stat:DELIVRD err:005", "failed"),
            Receipt("sim", "r1", "XQ:0045", clock.now(), "stat:XQ:0045", "success")])
    finally:
        await stage.stop()
    failed = await store.message(made[0].account_id, made[0].id)
    delivered = await store.message(made[1].account_id, made[1].id)
    assert failed and (failed.status, failed.error_code) == (MessageStatus.FAILED, "DELIVRD")
    assert delivered and (delivered.status, delivered.error_code) == (
        MessageStatus.SUCCESS, "DELIVERED")
