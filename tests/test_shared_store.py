"""A process on a store other dispatchers may use leaves their claims alone (issue 20 point
4, docs/deployment.md "N API and M dispatch processes"): only the embedded process, on its
data folder's own SQLite file, treats the claims it finds at start as a crashed run's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, ManualClock, fast_settings
from tests.storage.test_store import make_messages
from yizhan.app import build
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
