"""The push stage against a real HTTP receiver on loopback: signed batches in the spec's
fields, success only on 200 + {"code":0}, back-off on failures and timeouts, dead letters
and replay, a restart in the middle of a retry series, and per-message order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ManualClock
from tests.storage.test_store import make_messages
from tests.webhooks.receiver import Receiver
from yizhan.backends.local import LocalBus
from yizhan.domain.model import AccountId, DispatchState, MessageStatus
from yizhan.runtime.addresses import PushNetworks
from yizhan.storage import reports
from yizhan.storage.sql import hot_sql
from yizhan.storage.store import SqlStore
from yizhan.webhooks import signing
from yizhan.webhooks.pusher import PushConfig, PushStage

BASE = 60.0
LOCAL = PushNetworks(["127.0.0.0/8"])
"""The receivers listen on this machine: the operator's allowance (issue 14 point 4)."""
CONFIG = PushConfig(batch_size=100, batch_delay=0, timeout=0.5, retry_base=BASE,
                    retry_max=3600, retry_period=3 * 3600, poll_seconds=0.05, networks=LOCAL)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def stage(store: SqlStore, clock: ManualClock, config: PushConfig = CONFIG) -> PushStage:
    pusher = PushStage(store, clock, LocalBus(), config)
    await pusher.open()  # no loop: the tests drive rounds with run_once
    return pusher


async def failed_messages(store: SqlStore, clock: ManualClock, receiver: Receiver,
                          count: int, account: str = "acme") -> AccountId:
    """Records refused at acceptance (failed at once): each gets an SmsReport item."""
    owner = await store.account_by_name(account) or await store.create_account(account,
                                                                                clock.now())
    await store.set_push_endpoints(owner.id, clock.now(), receipt_url=receiver.url)
    made = await make_messages(store, clock, count, account=account, failed=True)
    assert all(m.status is MessageStatus.FAILED for m in made)
    return owner.id


async def test_a_batch_is_signed_in_the_spec_fields_and_leaves_the_outbox(
        store: SqlStore, clock: ManualClock, receiver: Receiver) -> None:
    account = await failed_messages(store, clock, receiver, 3)
    pusher = await stage(store, clock)
    assert await pusher.run_once() == 3
    await pusher.stop()
    assert len(receiver.taken) == 1 and await store.pending_pushes() == 0
    batch = receiver.taken[0]
    secret = (await store.push_endpoints(account)).secret  # type: ignore[union-attr]
    now = clock.now().timestamp()  # the pusher signs with its clock's time
    assert signing.verify(secret, batch.headers, batch.body, now)
    assert not signing.verify("wrong", batch.headers, batch.body, now)
    assert batch.headers["x-yizhan-topic"] == "SmsReport"
    item = batch.items[0]
    assert {k: item[k] for k in ("phone_number", "success", "err_code", "sms_size", "out_id",
                                 "send_time")} == {
        "phone_number": "13800138000", "success": False, "err_code": "isv.BLACK",
        "sms_size": "1", "out_id": "o1", "send_time": "2026-11-25 12:00:00"}
    assert item["err_msg"] and item["biz_id"] and item["report_time"]
    assert len({i["idempotency_key"] for i in batch.items}) == 3


async def test_failures_and_timeouts_back_off_exponentially_until_the_receiver_recovers(
        store: SqlStore, clock: ManualClock, receiver: Receiver) -> None:
    await failed_messages(store, clock, receiver, 2)
    pusher = await stage(store, clock)
    for attempt, mode in enumerate(["fail", "hang", "wrong"]):
        receiver.mode = mode
        assert await pusher.run_once() == 2
        assert await pusher.run_once() == 0  # not due before its back-off
        clock.advance(seconds=BASE * 2 ** attempt - 1)
        assert await pusher.run_once() == 0
        clock.advance(seconds=1)
    receiver.mode = "ok"
    assert await pusher.run_once() == 2
    await pusher.stop()
    assert receiver.refused == 2 and len(receiver.items()) == 2  # the hang is no answer
    assert await store.pending_pushes() == 0


async def test_after_the_retry_period_items_are_dead_letters_and_replay_delivers_them(
        store: SqlStore, clock: ManualClock, receiver: Receiver) -> None:
    await failed_messages(store, clock, receiver, 2)
    pusher = await stage(store, clock)
    receiver.mode = "fail"
    start = clock.now()
    attempts = []
    while await store.pending_pushes():
        if await pusher.run_once():
            attempts.append(int((clock.now() - start).total_seconds()))
        clock.advance(seconds=60)
    # Waits of 60, 120, 240, ... capped at 3600 s; the last attempt at the period's end.
    assert attempts == [0, 60, 180, 420, 900, 1860, 3780, 7380, 10800]
    letters = await store.list_dead_letters()
    assert [d.stage for d in letters] == ["push", "push"]
    assert "HTTP 500" in letters[0].error
    receiver.mode = "ok"
    for letter in letters:
        assert await store.replay_dead_letter(letter.id, clock.now())
    assert await pusher.run_once() == 2
    await pusher.stop()
    assert len(receiver.items()) == 2 and not await store.list_dead_letters()


async def test_a_restart_in_the_middle_of_a_retry_series_continues_it(
        store: SqlStore, clock: ManualClock, receiver: Receiver) -> None:
    await failed_messages(store, clock, receiver, 1)
    first = await stage(store, clock)
    receiver.mode = "fail"
    assert await first.run_once() == 1
    clock.advance(seconds=BASE)
    assert await first.run_once() == 1
    await first.stop()
    # The next process: the series goes on where it was (third wait: 4 x base).
    second = await stage(store, clock)
    clock.advance(seconds=BASE * 2)
    assert await second.run_once() == 1
    receiver.mode = "ok"
    clock.advance(seconds=BASE * 4 - 1)
    assert await second.run_once() == 0
    clock.advance(seconds=1)
    assert await second.run_once() == 1
    # A process that died holding a claim: the item is due again when the lease ends.
    await failed_messages(store, clock, receiver, 1)
    assert len(await store.claim_pushes(clock.now(), 10, CONFIG.lease)) == 1
    assert await second.run_once() == 0
    clock.advance(seconds=CONFIG.lease.total_seconds() + 1)
    assert await second.run_once() == 1
    await second.stop()
    assert len(receiver.items()) == 2


async def test_a_later_item_of_a_message_never_overtakes_an_earlier_one(
        store: SqlStore, clock: ManualClock, receiver: Receiver) -> None:
    account = await failed_messages(store, clock, receiver, 0)
    items: list[tuple[int, str, int | None, dict[str, Any]]] = [
        (account, "SmsReport", 1, {"n": "1-first", "idempotency_key": "a"}),
        (account, "SmsReport", 2, {"n": "2-only", "idempotency_key": "b"}),
        (account, "SmsReport", 1, {"n": "1-second", "idempotency_key": "c"})]
    await store._transaction(lambda conn: reports.enqueue(
        conn, hot_sql(store.is_postgres), items, clock.now()))
    pusher = await stage(store, clock)
    receiver.mode = "fail"
    assert await pusher.run_once() == 2  # 1-second waits for 1-first
    clock.advance(seconds=BASE)
    receiver.mode = "ok"
    assert await pusher.run_once() == 2
    assert await pusher.run_once() == 1
    await pusher.stop()
    assert [i["n"] for i in receiver.items()] == ["1-first", "2-only", "1-second"]


async def test_batches_are_cut_per_account_and_size(
        store: SqlStore, clock: ManualClock, receiver: Receiver) -> None:
    await failed_messages(store, clock, receiver, 250)
    other = await failed_messages(store, clock, receiver, 3, account="globex")
    pusher = await stage(store, clock)
    assert await pusher.run_once() == 253
    await pusher.stop()
    assert sorted(len(b.items) for b in receiver.taken) == [3, 50, 100, 100]
    secret = (await store.push_endpoints(other)).secret  # type: ignore[union-attr]
    mine = [b for b in receiver.taken if signing.verify(secret, b.headers, b.body,
                                                               clock.now().timestamp())]
    assert [len(b.items) for b in mine] == [3]


async def test_accounts_without_a_receipt_url_get_no_items(
        store: SqlStore, clock: ManualClock) -> None:
    made = await make_messages(store, clock, 2, failed=True)
    assert made[0].dispatch_state is DispatchState.DONE
    assert await store.pending_pushes() == 0


async def test_an_uplink_goes_to_the_account_that_last_sent_to_the_number(
        store: SqlStore, clock: ManualClock, receiver: Receiver) -> None:
    made = await make_messages(store, clock, 1, phone="+8613700137000")
    clock.advance(seconds=1)
    await make_messages(store, clock, 1, phone="+8613700137000", account="other")
    await store.set_push_endpoints(made[0].account_id, clock.now(), uplink_url=receiver.url)
    from yizhan.domain.events import Uplink

    await store.store_uplinks([Uplink("sim", "+8613700137000", "10690001", "R", clock.now())])
    assert await store.pending_pushes() == 0  # "other" sent last, and asked for nothing
    await store.store_uplinks([Uplink("sim", "+8613900139000", "10690001", "R", clock.now())])
    assert await store.pending_pushes() == 0  # nobody sent to that number
    other = await store.account_by_name("other")
    assert other is not None
    await store.set_push_endpoints(other.id, clock.now(), uplink_url=receiver.url)
    await store.store_uplinks([Uplink("sim", "+8613700137000", "10690001", "TD", clock.now())])
    pusher = await stage(store, clock)
    assert await pusher.run_once() == 1
    await pusher.stop()
    [item] = receiver.items()
    assert receiver.taken[0].headers["x-yizhan-topic"] == "SmsUp"
    assert {k: item[k] for k in ("phone_number", "content", "sign_name", "dest_code")} == {
        "phone_number": "13700137000", "content": "TD", "sign_name": "驿站",
        "dest_code": "10690001"}
    assert isinstance(item["sequence_id"], int)
