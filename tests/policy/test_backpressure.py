"""Backpressure on SQLite and PostgreSQL with a manual clock: the backlog in seconds of
delivery, read from the store's outbox, holds back requests of several numbers only."""

from __future__ import annotations

from tests.conftest import ManualClock
from tests.storage.test_store import LEASE, make_messages
from yizhan.domain.ports import Accepted, SubmitOutcome
from yizhan.policy.backpressure import MAX_HINT, Backpressure
from yizhan.storage.store import SqlStore


async def deliver(store: SqlStore, clock: ManualClock, count: int) -> None:
    claims, _ = await store.claim_dispatch(clock.now(), count, LEASE)
    await store.finish_submits([SubmitOutcome(c, "sim", Accepted(str(c.message.id)))
                                for c in claims], clock.now())


async def test_a_backlog_longer_than_the_bound_holds_back_bulk_not_single_numbers(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 8: 3000 waiting at 100/s is 30 s of delivery, past the 10 s bound."""
    gauge = Backpressure(store, clock, max_seconds=10, min_messages=500)
    await make_messages(store, clock, 3000)
    await gauge.refresh()
    assert gauge.check(1000) is None  # one reading: no rate yet, nothing held back
    gauge.settled(1000, 0)  # (that request was refused for another reason)
    clock.advance(seconds=2)
    await deliver(store, clock, 200)
    await gauge.refresh()
    assert gauge.rate == 100 and gauge.backlog == 2800
    held = gauge.check(1000)
    assert held is not None and held.code == "Throttling"
    assert held.retry_after == 18  # (2800 - 10 s x 100/s) / 100/s
    assert gauge.check(2) is not None
    assert gauge.check(1) is None  # a one-number send always passes


async def test_the_bound_follows_the_delivery_rate_and_counts_requests_under_way(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 8: faster delivery, longer backlog allowed; a request let pass counts
    at once, so concurrent bulk requests cannot all slip under the bound."""
    gauge = Backpressure(store, clock, max_seconds=10, min_messages=0)
    await make_messages(store, clock, 3000)
    await gauge.refresh()
    clock.advance(seconds=1)
    await deliver(store, clock, 400)
    await gauge.refresh()
    assert gauge.rate == 400 and gauge.backlog == 2600  # under 10 s x 400/s
    assert gauge.check(1000) is None and gauge.check(1000) is None
    assert gauge.backlog == 4600 and gauge.check(1000) is not None
    gauge.settled(1000, 1000)
    gauge.settled(1000, 0)  # committed, and refused
    assert gauge.backlog == 3600 and gauge.check(1000) is None


async def test_nothing_delivered_holds_back_with_the_longest_hint(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 8: a stalled delivery (channels down) refuses bulk, retry in 60 s."""
    gauge = Backpressure(store, clock, max_seconds=10, min_messages=100)
    await make_messages(store, clock, 150)
    await gauge.refresh()
    clock.advance(seconds=1)
    await gauge.refresh()
    held = gauge.check(10)
    assert gauge.rate == 0 and held is not None and held.retry_after == MAX_HINT


async def test_no_backlog_holds_nothing_back(store: SqlStore, clock: ManualClock) -> None:
    gauge = Backpressure(store, clock, max_seconds=10, min_messages=0)
    await make_messages(store, clock, 10)
    await gauge.refresh()
    clock.advance(seconds=1)
    await deliver(store, clock, 10)
    await gauge.refresh()  # an empty outbox: nothing waits, nothing held back
    assert gauge.backlog == 0 and gauge.check(1000) is None
