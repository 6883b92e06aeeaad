"""The simulator's receipt timer: due receipts reach the sink in batches, in due order, and
a receipt the sink failed to take is offered again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tests.conftest import ManualClock
from yizhan.dispatch.channels.simulator import Outcome, SimulatorChannel
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Accepted, SubmitRequest


class BatchSink:
    def __init__(self, fail_first: int = 0) -> None:
        self.batches: list[list[Receipt]] = []
        self.singles: list[Receipt | Uplink] = []
        self.fail_first = fail_first
        self.arrived = asyncio.Event()

    async def __call__(self, event: Receipt | Uplink) -> None:
        self.singles.append(event)

    async def many(self, events: Sequence[Receipt]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("store unavailable")
        self.batches.append(list(events))
        self.arrived.set()


def request(n: int, phone: str = "+8613800138000") -> SubmitRequest:
    return SubmitRequest(n, phone, "【驿站】hi", 1)


async def test_due_receipts_reach_a_batch_sink_in_one_call(clock: ManualClock) -> None:
    simulator = SimulatorChannel(clock)
    # Fifty receipts all due when the delivery loop starts (submitted while it is stopped,
    # with no delay): one round takes them all. (Due one after another on the event loop's
    # clock, as submits space them, a round takes only those due so far.)
    simulator.script.default = Outcome(delay=0)
    sink = BatchSink()
    results = [await simulator.submit(request(n)) for n in range(50)]
    await simulator.start(sink)
    try:
        await asyncio.wait_for(sink.arrived.wait(), 5)
    finally:
        await simulator.stop()
    assert all(isinstance(r, Accepted) for r in results)
    assert len(sink.batches) == 1 and not sink.singles
    assert [r.remote_id for r in sink.batches[0]] == [
        r.remote_id for r in results if isinstance(r, Accepted)]
    assert all(r.code == "DELIVRD" and r.done_at == clock.now() for r in sink.batches[0])


async def test_receipts_come_in_due_order_whatever_the_submit_order(clock: ManualClock) -> None:
    simulator = SimulatorChannel(clock)
    simulator.script.numbers["13800000001"] = Outcome(code="UNDELIV", delay=0.05)
    simulator.script.default = Outcome(delay=0.01)
    sink = BatchSink()
    await simulator.start(sink)
    try:
        late = await simulator.submit(request(1, "+8613800000001"))
        early = await simulator.submit(request(2))
        while sum(len(b) for b in sink.batches) < 2:
            sink.arrived.clear()
            await asyncio.wait_for(sink.arrived.wait(), 5)
    finally:
        await simulator.stop()
    delivered = [r for batch in sink.batches for r in batch]
    assert isinstance(late, Accepted) and isinstance(early, Accepted)
    assert [(r.remote_id, r.code) for r in delivered] == [
        (early.remote_id, "DELIVRD"), (late.remote_id, "UNDELIV")]


async def test_a_receipt_the_sink_failed_to_take_is_offered_again(
        clock: ManualClock, monkeypatch: object) -> None:
    from yizhan.dispatch.channels import simulator as module
    monkeypatch.setattr(module, "RETRY_SECONDS", 0.01)  # type: ignore[attr-defined]
    simulator = SimulatorChannel(clock)
    simulator.script.default = Outcome(delay=0)
    sink = BatchSink(fail_first=2)
    await simulator.start(sink)
    try:
        accepted = await simulator.submit(request(1))
        await asyncio.wait_for(sink.arrived.wait(), 5)
    finally:
        await simulator.stop()
    assert isinstance(accepted, Accepted)
    assert [[r.remote_id for r in b] for b in sink.batches] == [[accepted.remote_id]]
