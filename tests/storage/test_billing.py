"""Money in the store on SQLite and PostgreSQL: top-ups, packages before balance, domestic
charges on the successful receipt (exactly once), international charges at submit."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ManualClock
from tests.storage.test_store import LEASE, receipt
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import (
    Account,
    AccountId,
    Message,
    PhoneNumber,
    TemplateCode,
    TemplateType,
)
from yizhan.domain.ports import Accepted, Ambiguous, SubmitOutcome
from yizhan.storage.store import SqlStore

ids = IdGenerator()


async def account(store: SqlStore, clock: ManualClock, name: str = "acme") -> Account:
    return await store.account_by_name(name) or await store.create_account(name, clock.now())


async def sent(store: SqlStore, clock: ManualClock, owner: Account, remote_ids: list[str],
               *, phone: str = "+8613800138000", segments: int = 1,
               price: int = 45) -> list[Message]:
    """Messages accepted, claimed and accepted by channel `sim` under `remote_ids`."""
    made = [Message.queued(id=ids.next_id(), biz_id=ids.biz_id(1), account_id=owner.id,
                           phone=PhoneNumber(phone), sign_name="驿站",
                           template_code=TemplateCode("SMS_1"),
                           template_type=TemplateType.NOTIFICATION, content="【驿站】x",
                           segments=segments, out_id="", created_at=clock.now(),
                           part_price=price)
            for _ in remote_ids]
    await store.accept(made)
    claims, _ = await store.claim_dispatch(clock.now(), 100, LEASE)
    by_id = {c.message.id: c for c in claims}
    await store.finish_submits([SubmitOutcome(by_id[m.id], "sim", Accepted(r))
                                for m, r in zip(made, remote_ids, strict=True)], clock.now())
    return made


async def reread(store: SqlStore, m: Message) -> Message:
    found = await store.message(m.account_id, m.id)
    assert found is not None
    return found


async def balance(store: SqlStore, account_id: AccountId) -> int:
    found = await store.account(account_id)
    assert found is not None
    return found.balance


async def test_top_up_and_account_price(store: SqlStore, clock: ManualClock) -> None:
    owner = await account(store, clock)
    assert owner.balance == 0 and owner.part_price is None
    assert await store.top_up(owner.id, 10_000, "first", clock.now()) == 10_000
    assert await store.top_up(owner.id, -500, "correction", clock.now()) == 9_500
    await store.set_part_price(owner.id, 40)
    again = await store.account(owner.id)
    assert again is not None and again.balance == 9_500 and again.part_price == 40


async def test_a_domestic_message_is_billed_on_its_successful_receipt_only_once(
        store: SqlStore, clock: ManualClock) -> None:
    owner = await account(store, clock)
    ok, failed = await sent(store, clock, owner, ["r1", "r2"], segments=2)
    assert (await reread(store, ok)).charged_at is None  # nothing at submit
    clock.advance(seconds=2)
    await store.store_receipts([receipt("r1", "DELIVRD", clock), receipt("r1", "DELIVRD", clock),
                                receipt("r2", "UNDELIV", clock)], clock.now())
    await store.store_receipts([receipt("r1", "DELIVRD", clock)], clock.now())  # duplicate
    billed = await reread(store, ok)
    assert billed.charge == 90 and billed.package_parts == 0
    assert billed.charged_at == clock.now()
    assert (await reread(store, failed)).charged_at is None
    assert await balance(store, owner.id) == -90


async def test_packages_are_used_before_the_balance_soonest_expiry_first(
        store: SqlStore, clock: ManualClock) -> None:
    owner = await account(store, clock)
    await store.add_package(owner.id, 5, clock.now() + timedelta(days=1), clock.now())
    later = await store.add_package(owner.id, 1, clock.now() + timedelta(days=9), clock.now())
    expired = await store.add_package(owner.id, 9, clock.now() + timedelta(seconds=1),
                                      clock.now())
    a, b = await sent(store, clock, owner, ["p1", "p2"], segments=4, price=10)
    clock.advance(seconds=5)  # the third package has expired by the receipt
    await store.store_receipts([receipt("p1", "DELIVRD", clock),
                                receipt("p2", "DELIVRD", clock)], clock.now())
    first, second = await reread(store, a), await reread(store, b)
    assert (first.package_parts, first.charge) == (4, 0)
    assert (second.package_parts, second.charge) == (2, 20)  # 1 + 1 from packages, 2 paid
    assert await balance(store, owner.id) == -20
    left = {p.id: p.parts_left for p in await store.packages(owner.id)}
    assert left[later.id] == 0 and left[expired.id] == 9 and sum(left.values()) == 9


async def test_a_late_receipt_is_billed_when_matched(store: SqlStore,
                                                     clock: ManualClock) -> None:
    owner = await account(store, clock)
    await store.store_receipts([receipt("late", "DELIVRD", clock)], clock.now())
    [m] = await sent(store, clock, owner, ["late"])
    assert await store.match_late_receipts(now=clock.now()) == 1
    assert (await reread(store, m)).charge == 45
    assert await store.match_late_receipts(now=clock.now()) == 0
    assert await balance(store, owner.id) == -45


async def test_an_international_message_is_billed_when_the_channel_accepts_it(
        store: SqlStore, clock: ManualClock) -> None:
    owner = await account(store, clock)
    [m] = await sent(store, clock, owner, ["i1"], phone="+84987654321", segments=3, price=300)
    billed = await reread(store, m)
    assert billed.charge == 900 and billed.charged_at == clock.now()
    await store.store_receipts([receipt("i1", "DELIVRD", clock)], clock.now())
    assert (await reread(store, m)).charge == 900  # the receipt does not bill it again
    assert await balance(store, owner.id) == -900


async def test_an_ambiguous_international_submit_is_not_billed(store: SqlStore,
                                                               clock: ManualClock) -> None:
    owner = await account(store, clock)
    m = Message.queued(id=ids.next_id(), biz_id=ids.biz_id(1), account_id=owner.id,
                       phone=PhoneNumber("+84987654321"), sign_name="驿站",
                       template_code=TemplateCode("SMS_1"),
                       template_type=TemplateType.NOTIFICATION, content="x", segments=1,
                       out_id="", created_at=clock.now(), part_price=300)
    await store.accept([m])
    [claim], _ = await store.claim_dispatch(clock.now(), 10, LEASE)
    await store.finish_submits([SubmitOutcome(claim, "sim", Ambiguous("timeout"))], clock.now())
    assert (await reread(store, m)).charged_at is None
    assert await balance(store, owner.id) == 0
