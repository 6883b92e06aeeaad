"""The dispatch order of the outbox on SQLite and PostgreSQL (domain/priority.py):
verification codes first, then notifications, then promotions and bulk, with aging."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ManualClock
from tests.storage.test_store import LEASE, build_messages
from yizhan.domain.model import Message, TemplateType
from yizhan.domain.ports import Retryable, SubmitOutcome
from yizhan.domain.priority import DispatchClass, DispatchPriority
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
