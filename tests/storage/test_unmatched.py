"""Receipts still unmatched after a while (storage/unmatched.py): the same number in the other
base, a message left unknown by a lost submit answer named by handset and submit date, and
what is given up (issue 14 point 13)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.conftest import ManualClock
from tests.storage.test_store import LEASE, make_messages, submitted
from yizhan.domain.events import Receipt
from yizhan.domain.model import Message, MessageStatus
from yizhan.domain.ports import Ambiguous, ReceiptUpdate, SubmitOutcome
from yizhan.domain.remote_ids import alternates
from yizhan.storage.store import SqlStore

LATER = timedelta(seconds=31)


def update(remote_id: str, clock: ManualClock, code: str = "DELIVRD", phone: str = "",
           submitted_at: datetime | None = None) -> ReceiptUpdate:
    status = MessageStatus.SUCCESS if code == "DELIVRD" else MessageStatus.FAILED
    return ReceiptUpdate(Receipt("sim", remote_id, code, clock.now(), f"id:{remote_id}",
                                 status.value, phone, submitted_at),
                         status, "DELIVERED" if status is MessageStatus.SUCCESS else code)


async def settle(store: SqlStore, clock: ManualClock) -> tuple[int, int, list[str]]:
    now = clock.now() + LATER
    done = await store.settle_unmatched_receipts(now - timedelta(seconds=30), now)
    return done.by_other_base, done.by_handset, [r.remote_id for r in done.unmatched]


async def status_of(store: SqlStore, m: Message) -> tuple[MessageStatus, str, str]:
    found = await store.message(m.account_id, m.id)
    assert found is not None
    return found.status, found.error_code, found.remote_id


def test_alternates_are_the_same_number_in_the_other_base() -> None:
    assert alternates("6699") == ["1a2b", "26265"]
    assert alternates("1A2B") == ["6699"] and alternates("001a2b") == ["6699"]
    assert alternates("msg-7") == [] and alternates("0") == []


async def test_an_id_in_the_other_base_matches_after_the_exact_one_had_its_chance(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 13: a carrier answering in hex and reporting in decimal left messages
    waiting; `1234` is either base, so an exact match wins and two candidates are none."""
    hexed, exact, one, other = await submitted(store, clock, ["1a2b", "1234", "4d2", "4660"])
    stored = await store.store_receipts([update("6699", clock), update("1234", clock),
                                         update("99999", clock, "MK:0023")], clock.now())
    assert stored == 1  # "1234" at once, exactly; nothing else before its time
    assert (await status_of(store, hexed))[0] is MessageStatus.WAITING
    assert await store.match_late_receipts(now=clock.now()) == 0
    assert await settle(store, clock) == (1, 0, ["99999"])
    assert await status_of(store, hexed) == (MessageStatus.SUCCESS, "DELIVERED", "1a2b")
    assert (await status_of(store, exact))[0] is MessageStatus.SUCCESS
    # "1234" again, with its exact message already settled: the duplicate stays with it
    await store.store_receipts([update("4d2", clock, "UNDELIV")], clock.now())
    assert (await status_of(store, one))[0] is MessageStatus.FAILED
    assert (await status_of(store, other))[0] is MessageStatus.WAITING
    assert await settle(store, clock) == (0, 0, [])  # given up once, never read again


async def test_two_candidates_in_the_other_base_are_no_match(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 13: `1234` names 0x4d2 and 0x1234 (= 4660) alike: neither is taken."""
    one, other = await submitted(store, clock, ["4d2", "4660"])
    assert await store.store_receipts([update("1234", clock)], clock.now()) == 0
    assert await settle(store, clock) == (0, 0, ["1234"])
    assert (await status_of(store, one))[0] is MessageStatus.WAITING
    assert (await status_of(store, other))[0] is MessageStatus.WAITING
    [kept] = await store.unmatched_receipts()
    assert (kept.channel, kept.remote_id, kept.raw) == ("sim", "1234", "id:1234")


async def lost_answers(store: SqlStore, clock: ManualClock, phones: list[str]) -> list[Message]:
    made = [m for phone in phones for m in await make_messages(store, clock, 1, phone=phone)]
    claims, _ = await store.claim_dispatch(clock.now(), 100, LEASE)
    await store.finish_submits([SubmitOutcome(c, "sim", Ambiguous("no submit_sm_resp"))
                                for c in claims], clock.now())
    return made


async def test_a_receipt_resolves_the_one_message_a_lost_submit_answer_left_unknown(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 13: the receipt's handset and submit date name the message."""
    [lost] = await lost_answers(store, clock, ["+8613800000001"])
    assert (await status_of(store, lost))[0] is MessageStatus.UNKNOWN
    minute = clock.now().replace(second=0, microsecond=0)
    await store.store_receipts([update("beef", clock, phone="+8613800000001",
                                       submitted_at=minute),
                                update("cafe", clock, phone="+8613800000002",
                                       submitted_at=minute)], clock.now())
    assert await settle(store, clock) == (0, 1, ["cafe"])
    assert await status_of(store, lost) == (MessageStatus.SUCCESS, "DELIVERED", "beef")
    found = await store.message(lost.account_id, lost.id)
    assert found is not None and found.charged_at is not None  # billed as any delivery


async def test_two_unknown_messages_to_the_number_at_that_time_are_no_match(
        store: SqlStore, clock: ManualClock) -> None:
    both = await lost_answers(store, clock, ["+8613800000001", "+8613800000001"])
    await store.store_receipts([update("beef", clock, phone="+8613800000001",
                                       submitted_at=clock.now())], clock.now())
    assert await settle(store, clock) == (0, 0, ["beef"])
    assert [(await status_of(store, m))[0] for m in both] == [MessageStatus.UNKNOWN] * 2


async def test_a_submit_date_far_from_the_submit_is_no_match(
        store: SqlStore, clock: ManualClock) -> None:
    [lost] = await lost_answers(store, clock, ["+8613800000001"])
    await store.store_receipts([update("beef", clock, phone="+8613800000001",
                                       submitted_at=clock.now() - timedelta(hours=1))],
                               clock.now())
    assert await settle(store, clock) == (0, 0, ["beef"])
    assert (await status_of(store, lost))[0] is MessageStatus.UNKNOWN


async def test_a_duplicate_goes_with_the_receipt_that_resolved_and_another_id_does_not(
        store: SqlStore, clock: ManualClock) -> None:
    [lost] = await lost_answers(store, clock, ["+8613800000001"])
    at = clock.now()
    await store.store_receipts([update(remote_id, clock, phone="+8613800000001",
                                       submitted_at=at) for remote_id in ("beef", "beef",
                                                                          "dead")],
                               clock.now())
    assert await settle(store, clock) == (0, 2, ["dead"])
    assert await status_of(store, lost) == (MessageStatus.SUCCESS, "DELIVERED", "beef")


async def test_an_id_in_the_other_base_must_name_the_receipts_handset(
        store: SqlStore, clock: ManualClock) -> None:
    """issue 14 point 13: `1234` (a later part's receipt after a restart, say) read as hex is
    4660, another message's id: not taken when that message went to another handset."""
    [other] = await submitted(store, clock, ["4660"])
    await store.store_receipts([update("1234", clock, phone="+8613900000009")], clock.now())
    assert await settle(store, clock) == (0, 0, ["1234"])
    assert (await status_of(store, other))[0] is MessageStatus.WAITING
    await store.store_receipts([update("1a2b", clock, phone="+8613800138000")], clock.now())
    [same] = await submitted(store, clock, ["6699"])
    assert await settle(store, clock) == (1, 0, [])
    assert (await status_of(store, same))[0] is MessageStatus.SUCCESS
