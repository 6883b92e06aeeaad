"""The express dispatch worker (issue 17 point 6): a verification code accepted while the
main worker's round of bulk messages is in flight goes to the carrier at once, not after
that round; a crash that cuts an express round loses and repeats nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import ManualClock, eventually, fast_settings
from tests.dispatch.test_journal import Ignore, opened
from tests.storage.test_dispatch_order import accept
from tests.storage.test_store import LEASE
from yizhan.app import build
from yizhan.backends.local import LocalBus
from yizhan.cli.demo import ensure_demo
from yizhan.dispatch.channels.simulator import Outcome, SimulatorChannel
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import MessageStatus, TemplateType
from yizhan.domain.ports import SubmitRequest, SystemClock
from yizhan.intake.accept import SendAccepted, SendRequest
from yizhan.policy.chain import Recipient
from yizhan.simulator.smsc import SmscServer
from yizhan.storage.store import SqlStore

HANGING = "13700000001"


@pytest.mark.parametrize("express", [64, 0], ids=["express", "without"])
async def test_a_code_accepted_while_a_bulk_round_hangs_reaches_the_carrier_first(
        store: SqlStore, tmp_path: Path, express: int) -> None:
    """A 150-number request (bulk) is in flight, its round held by a carrier that does not
    answer one submit; a one-number code accepted then is delivered while that round is
    still waiting. Without the express worker (`dispatch_express_batch = 0`) the code waits
    for the round."""
    clock = SystemClock()
    simulator = SimulatorChannel(clock)
    simulator.script.default = Outcome(delay=0.01)
    simulator.script.numbers[HANGING] = Outcome(submit="hang")
    yz = await build(fast_settings(tmp_path, submit_timeout_seconds=3,
                                   dispatch_express_batch=express),
                     store=store, clock=clock, channels=[simulator])
    demo = await ensure_demo(store, clock.now())
    template = demo.templates[TemplateType.VERIFICATION].code

    async def send(numbers: list[str]) -> SendAccepted:
        accepted = await yz.intake.send(demo.account, SendRequest(
            template, [Recipient(n, demo.signature.name, {"code": "1"}) for n in numbers]))
        assert isinstance(accepted, SendAccepted)
        return accepted

    await yz.pipeline.start()
    try:
        bulk = await send([HANGING] + [f"1380000{i:04d}" for i in range(149)])
        await eventually(lambda: _value(len(simulator.submits) == 150),
                         what="the bulk round in flight")
        code = (await send(["13900000000"])).messages[0]

        async def delivered() -> bool:
            found = await store.message(demo.account.id, code.id)
            return found is not None and found.status is MessageStatus.SUCCESS

        if not express:
            with pytest.raises(AssertionError, match="timed out"):
                await eventually(delivered, timeout=1.5, what="the code")
            return
        await eventually(delivered, timeout=2.5, what="the code delivered")
        round_ = await store.messages_by_biz(demo.account.id, bulk.biz_id)
        assert all(m.submitted_at is None for m in round_), "the bulk round had ended"
    finally:
        await yz.pipeline.stop()
    finished = await store.messages_by_biz(demo.account.id, bulk.biz_id)
    assert {m.status for m in finished if m.phone.endswith(HANGING)} == {
        MessageStatus.UNKNOWN}  # the submit that never answered


async def test_a_crash_that_cuts_an_express_round_loses_and_repeats_nothing(
        store: SqlStore, clock: ManualClock, tmp_path: Path) -> None:
    """kill -9 while both workers have a round in flight on one SMPP channel (window 2):
    the bulk message and the first code went out and wait for an answer, the second code
    waits for window space. Each worker journals its own sends, so the restart queues only
    the second code again; the two that left become unknown, never submitted twice."""
    smsc = SmscServer(manual=True)
    port = await smsc.start()
    channel = SmppChannel(SmppConfig("smpp", "127.0.0.1", port, "yz", window=2), clock)
    await channel.start(Ignore())
    await asyncio.wait_for(channel.bound.wait(), 5)
    [bulk] = await accept(store, clock, 1, TemplateType.PROMOTION, "+8613800000001")
    main_journal, express_journal = opened(tmp_path), opened(tmp_path)
    for journal in (main_journal, express_journal):
        journal.restart()
    router = Router.single([channel], "smpp", clock=clock)
    main = DispatchWorker(store, router, LocalBus(), clock, DispatchConfig(),
                          journal=main_journal)
    express = DispatchWorker(store, router, LocalBus(), clock, DispatchConfig(express=True),
                             journal=express_journal)
    rounds = [asyncio.create_task(main.run_once())]
    try:
        out = [await smsc.expect()]  # the bulk message, unanswered
        codes = [(await accept(store, clock, 1, TemplateType.VERIFICATION,
                               f"+861390000000{n}"))[0] for n in range(2)]
        rounds.append(asyncio.create_task(express.run_once()))
        out.append(await smsc.expect())  # the first code; the second waits for the window
        for round_ in rounds:  # killed mid-round
            round_.cancel()
        await asyncio.gather(*rounds, return_exceptions=True)
        main_journal.close()
        express_journal.close()
    finally:
        await channel.stop()
        await smsc.stop()
    assert [m.message.destination_addr for m in out] == ["8613800000001", "8613900000000"]
    restarted = opened(tmp_path), opened(tmp_path)  # the main worker's, the express one's
    try:
        found = [journal.left_over() for journal in restarted]
    finally:
        for journal in restarted:
            journal.close()
    assert [[u.message_id for u in journal] for journal in found] == [[], [codes[1].id]]
    left = found[1]
    assert await store.requeue_unsent(left) == [codes[1].id]
    await store.release_claims()
    again, interrupted = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert [c.message.id for c in again] == [codes[1].id]
    assert sorted(interrupted) == sorted([bulk.id, codes[0].id])


async def test_each_worker_journals_its_own_sends_written_together(
        clock: ManualClock, tmp_path: Path) -> None:
    """Two submits of two workers leave in one write of the link: each journal gets the
    line of its own message only (a line in the other would requeue a sent message)."""
    smsc = SmscServer()
    port = await smsc.start()
    channel = SmppChannel(SmppConfig("smpp", "127.0.0.1", port, "yz"), clock)
    await channel.start(Ignore())
    await asyncio.wait_for(channel.bound.wait(), 5)
    first, second = opened(tmp_path), opened(tmp_path)
    try:
        for journal in (first, second):
            journal.restart()
            journal.claimed([])
        await asyncio.gather(
            channel.submit(SubmitRequest(1, "+8613800000001", "a", 1, journal=first)),
            channel.submit(SubmitRequest(2, "+8613800000002", "b", 1, journal=second)))
    finally:
        await channel.stop()
        await smsc.stop()
    lines = [p.read_text().splitlines()[1:] for p in (first.path, second.path)]
    first.close()
    second.close()
    assert lines == [["s 1"], ["s 2"]]


async def _value(value: object) -> object:
    return value
