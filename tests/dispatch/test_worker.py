"""The dispatch worker's submit lanes: at most `window` submits in flight, answers kept in
claim order, and a submit with no answer within the timeout becomes status unknown."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.conftest import ManualClock
from tests.storage.test_store import make_messages
from yizhan.backends.local import LocalBus
from yizhan.dispatch.channels.simulator import Outcome, SimulatorChannel
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import DispatchState, MessageStatus
from yizhan.domain.ports import Accepted, SubmitRequest, SubmitResult
from yizhan.storage.store import SqlStore


class SlowChannel:
    """Holds the first submits until `window` of them are in flight at once, then answers
    every submit; counts how many are in flight."""

    name = "slow"
    journals_sends = False
    ready = True

    def __init__(self, window: int) -> None:
        self.window = window
        self.full = asyncio.Event()
        self.in_flight = 0
        self.most = 0

    async def wait_ready(self) -> None: ...

    async def start(self, sink: object) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        if self.in_flight >= self.window:
            self.full.set()
        await self.full.wait()
        self.in_flight -= 1
        return Accepted(f"r{request.message_id}")


async def test_lanes_keep_the_window_and_the_claim_order(store: SqlStore,
                                                         clock: ManualClock) -> None:
    made = await make_messages(store, clock, 20)
    channel = SlowChannel(3)
    worker = DispatchWorker(store, Router.single([channel], "slow", clock=clock), LocalBus(), clock,
                            DispatchConfig(window=3))
    assert await asyncio.wait_for(worker.run_once(), 10) == 20
    assert channel.most == 3
    for m in made:
        found = await store.message(m.account_id, m.id)
        assert found and found.dispatch_state is DispatchState.SUBMITTED
        assert found.remote_id == f"r{m.id}"


async def test_a_submit_without_answer_times_out_and_the_lane_goes_on(
        store: SqlStore, clock: ManualClock) -> None:
    hung = await make_messages(store, clock, 1, phone="+8613800000009")
    fine = await make_messages(store, clock, 3)
    simulator = SimulatorChannel(clock)
    simulator.script.numbers["13800000009"] = Outcome(submit="hang")
    worker = DispatchWorker(store, Router.single([simulator], simulator.name, clock=clock),
                            LocalBus(), clock,
                            DispatchConfig(window=1, submit_timeout=0.05,
                                           lease=timedelta(minutes=5)))
    assert await asyncio.wait_for(worker.run_once(), 5) == 4
    await simulator.stop()
    stuck = await store.message(hung[0].account_id, hung[0].id)
    assert stuck and stuck.status is MessageStatus.UNKNOWN
    assert "no answer" in stuck.reason
    for m in fine:
        found = await store.message(m.account_id, m.id)
        assert found and found.dispatch_state is DispatchState.SUBMITTED
    assert all(simulator.submits[m.id] == 1 for m in [*hung, *fine])


class SteppingChannel(SlowChannel):
    """Answers each submit a second after the one before (on the test's clock)."""

    name = "stepping"

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(1)
        self.clock = clock

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        self.clock.advance(seconds=1)
        return Accepted(f"r{request.message_id}")


async def test_a_message_is_submitted_when_the_carrier_answered_not_when_recorded(
        store: SqlStore, clock: ManualClock) -> None:
    """A round records its outcomes after its last answer; each message's `submitted_at` is
    the moment its own answer came (issue 17 point 6 measures a code's accept -> carrier
    time from it)."""
    made = await make_messages(store, clock, 3)
    start = clock.now()
    worker = DispatchWorker(store, Router.single([SteppingChannel(clock)], "stepping",
                                                 clock=clock), LocalBus(), clock,
                            DispatchConfig(window=1))
    assert await asyncio.wait_for(worker.run_once(), 10) == 3
    times = []
    for m in made:
        found = await store.message(m.account_id, m.id)
        assert found is not None and found.submitted_at is not None
        times.append(found.submitted_at - start)
    assert times == [timedelta(seconds=s) for s in (1, 2, 3)]
