"""The dispatch order of the outbox on SQLite and PostgreSQL (domain/priority.py):
verification codes first, then notifications, then promotions and bulk, with aging."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import ManualClock
from tests.storage.test_store import LEASE, build_messages
from yizhan.domain.model import Message, MessageId, TemplateType
from yizhan.domain.ports import Accepted, Retryable, SubmitOutcome
from yizhan.domain.priority import DispatchClass, DispatchPriority
from yizhan.domain.tasks import TaskChunk, TaskId
from yizhan.storage.store import SqlStore


async def accept(store: SqlStore, clock: ManualClock, count: int, kind: TemplateType,
                 phone: str = "+8613800138000") -> list[Message]:
    """A request of `count` numbers with a template of `kind`, accepted now."""
    owner = await store.account_by_name("acme") or await store.create_account("acme",
                                                                               clock.now())
    made = [m._replace(template_type=kind)
            for m in build_messages(owner, clock, count, phone)]
    await store.accept(made)
    return made


async def claimed_ids(store: SqlStore, clock: ManualClock, limit: int) -> list[int]:
    claims, _ = await store.claim_dispatch(clock.now(), limit, LEASE)
    return [c.message.id for c in claims]


def test_the_classes_of_the_rule() -> None:
    """issue 14 point 8: a 1000-number request is bulk whatever its template."""
    rule = DispatchPriority()
    assert rule.of(TemplateType.VERIFICATION, 1) is DispatchClass.VERIFICATION
    assert rule.of(TemplateType.VERIFICATION, 1000) is DispatchClass.BULK
    assert rule.of(TemplateType.NOTIFICATION, 100) is DispatchClass.NOTIFICATION
    assert rule.of(TemplateType.INTERNATIONAL, 1) is DispatchClass.NOTIFICATION
    assert rule.of(TemplateType.PROMOTION, 1) is DispatchClass.BULK


async def test_verification_codes_go_before_notifications_and_bulk_queued_earlier(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 8: the claim is no longer first-in first-out."""
    bulk = await accept(store, clock, 1000, TemplateType.NOTIFICATION)
    promotion = await accept(store, clock, 1, TemplateType.PROMOTION)
    clock.advance(seconds=1)
    notification = await accept(store, clock, 1, TemplateType.NOTIFICATION)
    clock.advance(seconds=1)
    code = await accept(store, clock, 1, TemplateType.VERIFICATION)
    first = await claimed_ids(store, clock, 3)
    assert first == [code[0].id, notification[0].id, bulk[0].id]
    rest = await claimed_ids(store, clock, 2000)
    assert rest == [m.id for m in bulk[1:]] + [promotion[0].id]


async def test_aging_puts_bulk_that_waited_its_offset_before_later_codes(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 8: nothing starves; bulk waits at most its offset (60 s)."""
    bulk = await accept(store, clock, 150, TemplateType.VERIFICATION)
    clock.advance(seconds=59)
    early = await accept(store, clock, 1, TemplateType.VERIFICATION, "+8613800138001")
    clock.advance(seconds=2)
    late = await accept(store, clock, 1, TemplateType.VERIFICATION, "+8613800138002")
    order = await claimed_ids(store, clock, 200)
    assert order == [early[0].id] + [m.id for m in bulk] + [late[0].id]


async def test_a_retried_item_keeps_its_class_offset(store: SqlStore,
                                                     clock: ManualClock) -> None:
    """issue 14 point 8: a retried bulk message does not jump ahead of codes."""
    bulk = await accept(store, clock, 101, TemplateType.NOTIFICATION)
    claims, _ = await store.claim_dispatch(clock.now(), 1, LEASE)
    assert [c.message.id for c in claims] == [bulk[0].id]
    assert claims[0].rank_offset == timedelta(seconds=60)
    await store.finish_submits([SubmitOutcome(claims[0], "sim", Retryable("busy", after=1))],
                               clock.now())
    clock.advance(seconds=2)
    code = await accept(store, clock, 1, TemplateType.VERIFICATION)
    order = await claimed_ids(store, clock, 200)
    assert order[0] == code[0].id
    assert sorted(order[1:]) == sorted(m.id for m in bulk)


async def test_a_dispatch_claim_takes_the_writer_before_waiting_submit_outcomes(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 17 point 6: beside a running send task the SQLite writer has a queue (the
    task's acceptance, its submit outcomes and receipts); the claim that picks up a
    verification code (the bulk worker's here; the express worker's goes even earlier)
    goes before the waiting outcome and receipt transactions."""
    turns = store._write_lock  # the SQLite store's writer turns (none on PostgreSQL)
    if turns is None:
        pytest.skip("PostgreSQL runs its transactions side by side: no writer turns")
    bulk = await accept(store, clock, 100, TemplateType.NOTIFICATION)
    claims, _ = await store.claim_dispatch(clock.now(), 1, LEASE)
    code = await accept(store, clock, 1, TemplateType.VERIFICATION)
    done: list[str] = []
    release, holding = asyncio.Event(), asyncio.Event()

    async def hold() -> None:  # the transaction under way
        async with turns.turn():
            holding.set()
            await release.wait()

    async def finish() -> None:
        await store.finish_submits([SubmitOutcome(claims[0], "sim", Accepted("r1"))],
                                   clock.now())
        done.append("outcome")

    async def claim() -> None:
        got, _ = await store.claim_dispatch(clock.now(), 1, LEASE)
        done.append(f"claim {[c.message.id for c in got]}")

    holder = asyncio.create_task(hold())
    await holding.wait()
    first = asyncio.create_task(finish())
    for _ in range(3):
        await asyncio.sleep(0)  # the outcome queues for the writer first
    second = asyncio.create_task(claim())
    for _ in range(3):
        await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, first, second), 5)
    assert done == [f"claim {[code[0].id]}", "outcome"]
    assert bulk[0].id == claims[0].message.id


async def test_the_express_claim_takes_only_items_whose_rank_time_has_come(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 17 point 6: the express worker's claim (`urgent`) takes the codes, leaves the
    bulk and notifications accepted before them to the main worker, and never an item the
    main worker holds; a bulk message that waited its offset is urgent too (aging)."""
    old_bulk = await accept(store, clock, 101, TemplateType.NOTIFICATION)
    clock.advance(seconds=61)
    bulk = await accept(store, clock, 150, TemplateType.VERIFICATION)
    notification = await accept(store, clock, 1, TemplateType.NOTIFICATION)
    codes = [(await accept(store, clock, 1, TemplateType.VERIFICATION, f"+861380013800{n}"))[0]
             for n in range(3)]
    held, _ = await store.claim_dispatch(clock.now(), 2, LEASE)  # the main worker's round
    assert [c.message.id for c in held] == [old_bulk[0].id, old_bulk[1].id]
    urgent, _ = await store.claim_dispatch(clock.now(), 1000, LEASE, urgent=True)
    assert [c.message.id for c in urgent] == ([m.id for m in old_bulk[2:]]
                                              + [m.id for m in codes])
    rest = await claimed_ids(store, clock, 1000)
    assert rest == [notification[0].id] + [m.id for m in bulk]


async def _order_behind_the_writer(store: SqlStore, first: Any, second: Any) -> list[str]:
    """Hold the writer, queue `first` then `second` (name, coroutine function), release:
    the order in which they got through."""
    turns = store._write_lock
    if turns is None:
        pytest.skip("PostgreSQL runs its transactions side by side: no writer turns")
    done: list[str] = []
    release, holding = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with turns.turn():
            holding.set()
            await release.wait()

    async def run(name: str, work: Any) -> None:
        await work()
        done.append(name)

    holder = asyncio.create_task(hold())
    await holding.wait()
    tasks = []
    for name, work in (first, second):
        tasks.append(asyncio.create_task(run(name, work)))
        for _ in range(3):
            await asyncio.sleep(0)  # queued for the writer in this order
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, *tasks), 5)
    return done


async def test_a_code_is_accepted_before_a_waiting_send_task_chunk_and_bulk_claim(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 17 point 6: a send task's chunk is awaited by no caller and a bulk round's
    claim by no code: both wait for the urgent writers (`Turn.FEED`), so a verification
    code accepted meanwhile is committed first."""
    owner = await store.account_by_name("acme") or await store.create_account("acme",
                                                                               clock.now())
    chunk = build_messages(owner, clock, 50, "+8613800138001")
    code = [m._replace(template_type=TemplateType.VERIFICATION)
            for m in build_messages(owner, clock, 1, "+8613800138002")]
    await accept(store, clock, 10, TemplateType.NOTIFICATION)
    task_chunk = TaskChunk(TaskId(999_999), list(range(50)), [m.id for m in chunk],
                           [False] * 50)
    assert await _order_behind_the_writer(
        store, ("task", lambda: store.accept([task_chunk, *chunk])),
        ("code", lambda: store.accept(code))) == ["code", "task"]
    assert await _order_behind_the_writer(
        store, ("claim", lambda: store.claim_dispatch(clock.now(), 5, LEASE)),
        ("code", lambda: store.accept([m._replace(id=MessageId(m.id + 1)) for m in code]))
    ) == ["code", "claim"]
