"""Records over time: the 72-hour sweeper with an injected clock, late receipts after it,
the statistics counters against the records they summarise, and the batched purge."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tests.conftest import ManualClock
from tests.storage.test_store import make_messages, receipt, submitted
from yizhan.domain.events import Uplink
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, SubmitOutcome
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.receipts.sweeper import Sweeper
from yizhan.records.retention import Purge
from yizhan.storage.store import SqlStore

WAIT = timedelta(hours=72)


async def test_the_sweeper_makes_messages_unknown_after_72_hours_and_late_receipts_change_nothing(
        store: SqlStore, clock: ManualClock) -> None:
    made = await submitted(store, clock, ["a", "b", "c"])
    account = made[0].account_id
    await store.set_push_endpoints(account, clock.now(), receipt_url="queue")
    clock.advance(hours=1)
    await store.store_receipts([receipt("c", "DELIVRD", clock)], clock.now())
    sweeper = Sweeper(store, clock, WAIT, every=60, batch=1)
    clock.advance(hours=71, seconds=-1)  # 72 hours after the submit, less a second
    assert await sweeper.sweep() == 0
    clock.advance(seconds=2)
    assert await sweeper.sweep() == 2  # in batches of one
    after = {m.id: m for m in await store.messages_by_biz(account, made[0].biz_id)}
    assert [after[m.id].status for m in made] == [MessageStatus.UNKNOWN, MessageStatus.UNKNOWN,
                                                   MessageStatus.SUCCESS]
    assert "72 hours" in after[made[0].id].reason
    # A receipt after the sweep is kept but does not change the final state.
    await store.store_receipts([receipt("a", "DELIVRD", clock)], clock.now())
    late = await store.message(account, made[0].id)
    assert late is not None and late.status is MessageStatus.UNKNOWN
    # Statistics and reports followed each change.
    [row] = await store.statistics(account, *(2 * [china_today(made[0].created_at)]))
    assert (row.sent, row.success, row.unknown, row.waiting) == (3, 1, 2, 0)
    items = await store.receive_queue(account, "SmsReport", clock.now(), 10, timedelta(1))
    assert sorted(i.payload.count('"UNKNOWN"') for i in items) == [0, 1, 1]


async def test_statistics_counters_agree_with_the_records(store: SqlStore,
                                                         clock: ManualClock) -> None:
    """Every path that changes status, in a random mixture, on two China days."""
    rng = random.Random(7)
    phones = ["+8613800138000", "+8618600186000", "+8618900189000", "+84987654321"]
    for day in range(2):
        for phone in phones:
            await make_messages(store, clock, rng.randint(1, 4), phone=phone,
                                failed=rng.random() < 0.2)
        claims, _ = await store.claim_dispatch(clock.now(), 1000, timedelta(minutes=5))
        outcomes = []
        for i, c in enumerate(claims):
            result = rng.choice([Accepted(f"{day}-{i}")] * 4 + [Rejected("REJECTD"),
                                                                Ambiguous("lost")])
            outcomes.append(SubmitOutcome(c, "sim", result))
        await store.finish_submits(outcomes, clock.now())
        accepted = [o for o in outcomes if isinstance(o.result, Accepted)]
        await store.store_receipts([receipt(o.result.remote_id, rng.choice(  # type: ignore[union-attr]
            ["DELIVRD", "DELIVRD", "UNDELIV"]), clock) for o in accepted[:-2]], clock.now())
        clock.advance(days=1)
    await Sweeper(store, clock, timedelta(hours=36), every=60).sweep()
    account = outcomes[0].claim.message.account_id
    first = china_today(clock.now()) - timedelta(days=2)
    counted = await store.statistics(account, first, first + timedelta(days=1))
    assert len(counted) == 2
    for row in counted:
        day = datetime.strptime(row.key["day"], "%Y%m%d").date()
        records = await store.status_counts(account, *china_day_bounds(day))
        assert {s: n for s, n in {
            MessageStatus.SUCCESS: row.success, MessageStatus.FAILED: row.failed,
            MessageStatus.UNKNOWN: row.unknown, MessageStatus.WAITING: row.waiting}.items()
            if n} == records
        assert row.sent == sum(records.values())
        found = await store.query_messages(account, None, *china_day_bounds(day), 0, 1000)
        assert row.billed_parts == sum(m.segments for m in found[1]
                                       if m.status is MessageStatus.SUCCESS)
    by_carrier = {r.key["carrier"]: r.sent for r in await store.statistics(
        account, first, first + timedelta(days=1), group_by=["carrier"])}
    assert set(by_carrier) == {"china_mobile", "china_unicom", "china_telecom", "international"}
    abroad = await store.statistics(account, first, first + timedelta(days=1),
                                    group_by=["day"], international=True)
    assert sum(r.sent for r in abroad) == by_carrier["international"]


async def test_the_purge_deletes_old_records_in_batches(store: SqlStore,
                                                        clock: ManualClock) -> None:
    made = await make_messages(store, clock, 5)
    await store.store_uplinks([Uplink("sim", "+8613800138000", "1069", "R", clock.now())])
    await store.store_receipts([receipt("x", "DELIVRD", clock)], clock.now())
    real_now = datetime.now(UTC)  # message ids carry the wall-clock time they were made
    # Records are a day old at most for a clock at the earlier of the two times (the fixed
    # test clock may lie before or after today).
    keep = Purge(store, ManualClock(min(real_now, clock.now())), timedelta(days=1), every=60,
                 batch=2)
    assert await keep.purge() == 0
    # Three years on: everything goes, two rows of each kind per transaction.
    later = ManualClock(max(real_now, clock.now()) + timedelta(days=1096))
    purge = Purge(store, later, timedelta(days=1095), every=60, batch=2, pause=0)
    assert await purge.purge() == 5 + 1 + 1
    assert await store.message(made[0].account_id, made[0].id) is None
