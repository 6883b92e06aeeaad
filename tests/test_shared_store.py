"""Claims on a store several dispatchers share (issue 20 point 4, docs/deployment.md "N API
and M dispatch processes"): only the embedded process, on its data folder's own SQLite file,
treats the claims it finds at start as a crashed run's; a live round keeps its claims
however long it takes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, ManualClock, fast_settings
from tests.dispatch.test_worker import SlowChannel
from tests.storage.test_store import make_messages
from yizhan.app import build
from yizhan.backends.local import LocalBus
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import DispatchState, MessageStatus
from yizhan.storage.store import SqlStore


@pytest.mark.parametrize("shared", [True, False])
async def test_a_starting_process_releases_claims_only_when_it_is_the_sole_dispatcher(
        store: SqlStore, clock: ManualClock, tmp_path: Path, shared: bool) -> None:
    [made] = await make_messages(store, clock, 1)
    # Another dispatcher, alive, claimed it and is submitting it.
    claims, _ = await store.claim_dispatch(clock.now(), 10, timedelta(minutes=5))
    assert [c.message.id for c in claims] == [made.id]
    url = POSTGRES_URL if store.is_postgres else f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    settings = fast_settings(tmp_path / "data", database_url=url if shared else None)
    yz = await build(settings, store=store, clock=clock)
    await yz.pipeline.start()
    try:
        await clock.sleepers(1)  # the worker found nothing due and waits
    finally:
        await yz.pipeline.stop()
    found = await store.message(made.account_id, made.id)
    assert found is not None
    if shared:  # still the other dispatcher's
        assert found.dispatch_state is DispatchState.SUBMITTING
        assert found.status is MessageStatus.WAITING
    else:  # embedded: a crashed run's claim, resolved as cut off mid-submit
        assert found.status is MessageStatus.UNKNOWN


async def test_a_round_longer_than_the_lease_keeps_its_claims(store: SqlStore,
                                                              clock: ManualClock) -> None:
    """The worker extends its round's lease while it submits: another dispatcher finds
    nothing to take over however long the round takes, and the message is submitted once."""
    [made] = await make_messages(store, clock, 1)
    channel = SlowChannel(2)  # holds the submit until the test lets it go
    lease = timedelta(seconds=30)
    worker = DispatchWorker(store, Router.single([channel], "slow", clock=clock), LocalBus(),
                            clock, DispatchConfig(lease=lease))
    round_ = asyncio.create_task(worker.run_once())
    for _ in range(4):  # two minutes: four leases
        await clock.sleepers(1)  # the lease's renewal waits
        clock.advance(seconds=15)
        await asyncio.sleep(0.05)  # (the renewal's transaction)
        other, interrupted = await store.claim_dispatch(clock.now(), 10, lease)
        assert other == [] and interrupted == []
    channel.full.set()
    assert await asyncio.wait_for(round_, 5) == 1
    found = await store.message(made.account_id, made.id)
    assert found is not None and found.dispatch_state is DispatchState.SUBMITTED
