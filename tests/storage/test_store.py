"""The SQL store on SQLite and PostgreSQL: schema, acceptance with outbox, claims and
interrupted submits, submit outcomes, receipts (late ones too), records, dead letters."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.conftest import ManualClock
from yizhan.api.rest.messages import message_json
from yizhan.domain.events import Receipt
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import (
    Account,
    AccountId,
    DispatchState,
    Message,
    MessageStatus,
    PhoneNumber,
    SignatureNonce,
    TemplateCode,
    TemplateType,
)
from yizhan.domain.ports import (
    Accepted,
    Ambiguous,
    ReceiptUpdate,
    Rejected,
    Retryable,
    SubmitOutcome,
    Unsent,
)
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import metadata

LEASE = timedelta(minutes=5)


def build_messages(account: Account, clock: ManualClock, count: int,
                   phone: str = "+8613800138000", failed: bool = False) -> list[Message]:
    """Messages as intake builds them; `failed`: refused at acceptance (code isv.BLACK)."""
    ids = IdGenerator()
    first = ids.next_id()
    build = partial(Message.refused, error_code="isv.BLACK", reason="") \
        if failed else Message.queued
    return [build(id=first if i == 0 else ids.next_id(), biz_id=ids.biz_id(first),
                  account_id=AccountId(account.id), phone=PhoneNumber(phone),
                  sign_name="驿站", template_code=TemplateCode("SMS_100000001"),
                  template_type=TemplateType.VERIFICATION, content="【驿站】code 1",
                  segments=1, out_id="o1", created_at=clock.now())
            for i in range(count)]


async def make_messages(store: SqlStore, clock: ManualClock, count: int,
                        phone: str = "+8613800138000", account: str = "acme",
                        failed: bool = False) -> list[Message]:
    owner = await store.account_by_name(account) or await store.create_account(account,
                                                                               clock.now())
    made = build_messages(owner, clock, count, phone, failed)
    await store.accept(made)
    return made


async def test_migrations_create_exactly_the_declared_schema(store: SqlStore) -> None:
    async with store.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    assert diff == []


async def test_the_policy_trail_is_stored_and_read_back(store: SqlStore,
                                                       clock: ManualClock) -> None:
    """Each message keeps its trail as written; one without (accepted before trails were
    kept) reads back as None, and the REST record shows it as null."""
    made = build_messages(await store.create_account("acme", clock.now()), clock, 2)
    made[0] = made[0]._replace(policy_trail="1:+++++++-+0--0--+.")
    await store.accept(made)
    first, second = [await store.message(m.account_id, m.id) for m in made]
    assert first is not None and first.policy_trail == "1:+++++++-+0--0--+."
    assert second is not None and second.policy_trail is None
    assert [m.policy_trail for m in await store.messages_by_biz(
        made[0].account_id, made[0].biz_id)] == ["1:+++++++-+0--0--+.", None]
    assert message_json(second)["policy_trail"] is None
    shown = message_json(first)["policy_trail"]
    assert shown[9] == {"rule": "numbers.segment", "verdict": "refused",
                        "code": "isv.MOBILE_NUMBER_ILLEGAL"}
    assert len(shown) == 17 and shown[-1]["verdict"] == "not_evaluated"


async def test_migrate_twice_is_harmless(store: SqlStore) -> None:
    await store.migrate()
    assert await store.list_accounts() == []


async def test_accept_commits_messages_with_their_outbox_rows(store: SqlStore,
                                                              clock: ManualClock) -> None:
    made = await make_messages(store, clock, 3)
    assert await store.pending_dispatch() == 3
    found = await store.messages_by_biz(made[0].account_id, made[0].biz_id)
    assert [m.id for m in found] == [m.id for m in made]
    assert found[0].status is MessageStatus.WAITING
    assert found[0].created_at == clock.now()


async def test_accept_writes_every_message_of_batches_of_any_size(store: SqlStore,
                                                                  clock: ManualClock) -> None:
    # SQLite inserts in statements of 64, 16, 4 and 1 rows: sizes on and off those edges.
    sizes = [1, 3, 4, 5, 16, 21, 63, 64, 65, 85, 149]
    batches = [await make_messages(store, clock, n, phone=f"+86138001380{n:02d}")
               for n in sizes]
    assert await store.pending_dispatch() == sum(sizes)
    for made in batches:
        found = await store.messages_by_biz(made[0].account_id, made[0].biz_id)
        assert [(m.id, m.phone, m.out_id) for m in found] == [
            (m.id, m.phone, m.out_id) for m in made]


async def test_claim_marks_submitting_and_a_second_claim_sees_nothing(
        store: SqlStore, clock: ManualClock) -> None:
    await make_messages(store, clock, 3)
    claims, interrupted = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert len(claims) == 3 and interrupted == []
    again, _ = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert again == []
    stored = await store.message(claims[0].message.account_id, claims[0].message.id)
    assert stored is not None and stored.dispatch_state is DispatchState.SUBMITTING


async def test_a_submit_cut_off_by_a_crash_becomes_unknown_and_is_never_claimed_again(
        store: SqlStore, clock: ManualClock) -> None:
    made = await make_messages(store, clock, 2)
    claims, _ = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert len(claims) == 2
    await store.release_claims()  # the process died mid-submit; a new one starts
    claims, interrupted = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert claims == [] and sorted(interrupted) == sorted(m.id for m in made)
    message = await store.message(made[0].account_id, made[0].id)
    assert message is not None and message.status is MessageStatus.UNKNOWN
    assert "not submitted again" in message.reason
    assert await store.pending_dispatch() == 0


async def test_claims_that_never_left_go_back_on_the_outbox_the_others_become_unknown(
        store: SqlStore, clock: ManualClock) -> None:
    """Issue 14 point 3: after a crash the claims the submit journal shows unsent are
    queued again, each only while its outbox row is still that claim; every other message
    left `submitting` becomes unknown as before."""
    made = await make_messages(store, clock, 4)
    claims, _ = await store.claim_dispatch(clock.now(), 10, LEASE)
    ids = [m.id for m in made]
    unsent, stale, sent, done = sorted(claims, key=lambda c: ids.index(c.message.id))
    await store.finish_submits([SubmitOutcome(done, "sim", Accepted("r1"))], clock.now())
    requeued = await store.requeue_unsent([
        Unsent(unsent.message.id, unsent.outbox_id, unsent.attempts),
        Unsent(stale.message.id, stale.outbox_id, stale.attempts + 1),  # a later claim's
        Unsent(done.message.id, done.outbox_id, done.attempts)])  # its outcome was recorded
    assert requeued == [unsent.message.id]
    await store.release_claims()
    again, interrupted = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert [c.message.id for c in again] == [unsent.message.id]
    assert again[0].attempts == 0 and again[0].message.status is MessageStatus.WAITING
    assert sorted(interrupted) == sorted([stale.message.id, sent.message.id])
    finished = await store.message(done.message.account_id, done.message.id)
    assert finished is not None and finished.remote_id == "r1"


async def test_an_expired_lease_is_treated_like_a_crash(store: SqlStore,
                                                        clock: ManualClock) -> None:
    await make_messages(store, clock, 1)
    await store.claim_dispatch(clock.now(), 10, LEASE)
    clock.advance(minutes=6)
    claims, interrupted = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert claims == [] and len(interrupted) == 1


async def test_submit_outcomes(store: SqlStore, clock: ManualClock) -> None:
    made = await make_messages(store, clock, 5)
    claims, _ = await store.claim_dispatch(clock.now(), 10, LEASE)
    by_id = {c.message.id: c for c in claims}
    a, r, t, d, u = (by_id[m.id] for m in made)
    await store.finish_submits([
        SubmitOutcome(a, "sim", Accepted("abc")),
        SubmitOutcome(r, "sim", Rejected("MK:0001", "empty number")),
        SubmitOutcome(t, "sim", Retryable("throttled", after=30)),
        SubmitOutcome(d, "sim", Retryable("throttled", after=30), dead=True),
        SubmitOutcome(u, "sim", Ambiguous("timeout")),
    ], clock.now())
    account = made[0].account_id
    accepted = await store.message(account, a.message.id)
    assert accepted and accepted.dispatch_state is DispatchState.SUBMITTED
    assert accepted.remote_id == "abc" and accepted.status is MessageStatus.WAITING
    rejected = await store.message(account, r.message.id)
    assert rejected and rejected.status is MessageStatus.FAILED
    assert rejected.error_code == "MK:0001"
    unknown = await store.message(account, u.message.id)
    assert unknown and unknown.status is MessageStatus.UNKNOWN and unknown.reason == "timeout"
    # the retry waits for its back-off; then it is claimed again with one attempt counted
    assert (await store.claim_dispatch(clock.now(), 10, LEASE))[0] == []
    clock.advance(seconds=31)
    retried, _ = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert [(c.message.id, c.attempts) for c in retried] == [(t.message.id, 1)]
    # the dead one waits in the dead letters until replayed
    letters = await store.list_dead_letters()
    assert [letter.payload["message_id"] for letter in letters] == [d.message.id]
    replayed = await store.replay_dead_letter(letters[0].id, clock.now())
    assert replayed is not None
    assert await store.replay_dead_letter(letters[0].id, clock.now()) is None
    assert await store.list_dead_letters() == []
    again, _ = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert [c.message.id for c in again] == [d.message.id]


async def submitted(store: SqlStore, clock: ManualClock, remote_ids: list[str]) -> list[Message]:
    made = await make_messages(store, clock, len(remote_ids))
    claims, _ = await store.claim_dispatch(clock.now(), 100, LEASE)
    order = {m.id: i for i, m in enumerate(made)}
    await store.finish_submits([SubmitOutcome(c, "sim", Accepted(remote_ids[order[c.message.id]]))
                                for c in claims], clock.now())
    return made


def receipt(remote_id: str, code: str, clock: ManualClock) -> ReceiptUpdate:
    status = MessageStatus.SUCCESS if code == "DELIVRD" else MessageStatus.FAILED
    return ReceiptUpdate(Receipt("sim", remote_id, code, clock.now()), status,
                         "DELIVERED" if code == "DELIVRD" else code)


async def test_receipts_update_their_messages_and_the_first_final_one_wins(
        store: SqlStore, clock: ManualClock) -> None:
    made = await submitted(store, clock, ["r1", "r2"])
    clock.advance(seconds=3)
    matched = await store.store_receipts([receipt("r1", "DELIVRD", clock),
                                          receipt("r2", "UNDELIV", clock),
                                          receipt("r1", "UNDELIV", clock)], clock.now())
    assert matched == 3
    first = await store.message(made[0].account_id, made[0].id)
    second = await store.message(made[1].account_id, made[1].id)
    assert first and first.status is MessageStatus.SUCCESS and first.error_code == "DELIVERED"
    assert first.receipt_at == clock.now()
    assert second and second.status is MessageStatus.FAILED and second.error_code == "UNDELIV"


async def test_a_receipt_that_overtakes_its_submit_is_matched_later(
        store: SqlStore, clock: ManualClock) -> None:
    assert await store.store_receipts([receipt("early", "DELIVRD", clock)], clock.now()) == 0
    assert await store.match_late_receipts(clock.now()) == 0
    made = await submitted(store, clock, ["early"])
    assert await store.match_late_receipts(clock.now()) == 1
    message = await store.message(made[0].account_id, made[0].id)
    assert message and message.status is MessageStatus.SUCCESS
    assert await store.match_late_receipts(clock.now()) == 0


async def test_records_by_number_and_china_day_newest_first(store: SqlStore,
                                                            clock: ManualClock) -> None:
    clock._now = clock.now().replace(hour=15, minute=30)  # 23:30 in China
    late = await make_messages(store, clock, 2)
    clock.advance(hours=1)  # 00:30 the next China day
    await make_messages(store, clock, 1)
    await make_messages(store, clock, 1, phone="+8613900139000")
    start, end = china_day_bounds(late[0].created_at.date())
    total, found = await store.query_messages(late[0].account_id, PhoneNumber("+8613800138000"),
                                              start, end, 0, 1)
    assert total == 2 and len(found) == 1 and found[0].id == late[1].id


async def test_records_of_an_account_newest_first_counted_up_to_a_limit(
        store: SqlStore, clock: ManualClock) -> None:
    """The console's records: an account's period, newest first (ties in id order, newest
    id first), paged; with a count limit the total stops one past it ("more than")."""
    early = await make_messages(store, clock, 3)  # one request: the same created_at
    clock.advance(minutes=5)
    late = await make_messages(store, clock, 2, phone="+8613900139000")
    await make_messages(store, clock, 4, account="other")
    start, end = china_day_bounds(china_today(clock.now()))
    account = late[0].account_id
    newest = [m.id for m in late[::-1] + early[::-1]]
    total, found = await store.query_messages(account, None, start, end, 0, 2)
    assert total == 5 and [m.id for m in found] == newest[:2]
    total, found = await store.query_messages(account, None, start, end, 2, 2, count_limit=3)
    assert total == 4 and [m.id for m in found] == newest[2:4]
    total, found = await store.query_messages(account, None, start, end, 4, 2, count_limit=5)
    assert total == 5 and [m.id for m in found] == newest[4:]


async def test_nonces_are_new_once_per_key_and_forgotten_after_the_window(
        store: SqlStore, clock: ManualClock) -> None:
    assert await store.remember_nonces([("k1", "n1"), ("k1", "n2")], clock.now()) == {
        ("k1", "n1"), ("k1", "n2")}
    assert await store.remember_nonces([("k1", "n1"), ("k2", "n1")], clock.now()) == {
        ("k2", "n1")}
    assert not await store.remember_nonce("k1", "n2", clock.now())
    clock.advance(minutes=31)
    assert await store.remember_nonce("k1", "fresh", clock.now())  # purges the old ones
    assert await store.remember_nonce("k1", "n1", clock.now())


async def test_nonces_commit_with_the_messages_they_signed(
        store: SqlStore, clock: ManualClock) -> None:
    account = await store.create_account("acme", clock.now())
    first, second, third = (build_messages(account, clock, n) for n in (2, 1, 1))
    plain = build_messages(account, clock, 1)
    signed = [SignatureNonce("k1", "n1", first[0].biz_id),
              SignatureNonce("k1", "n1", second[0].biz_id),  # the same nonce in one batch
              SignatureNonce("k1", "n2", third[0].biz_id)]
    assert await store.accept([signed[0], *first, signed[1], *second, *plain]) == [
        True, None, None, False, None, None]
    assert await store.accept([signed[2], *third]) == [True, None]
    assert len(await store.messages_by_biz(account.id, first[0].biz_id)) == 2
    assert await store.messages_by_biz(account.id, second[0].biz_id) == []  # the replay
    assert len(await store.messages_by_biz(account.id, plain[0].biz_id)) == 1
    assert len(await store.messages_by_biz(account.id, third[0].biz_id)) == 1
    assert not await store.remember_nonce("k1", "n2", clock.now())  # one nonce table


async def test_a_page_of_a_send_request_is_read_with_its_total(store: SqlStore,
                                                               clock: ManualClock) -> None:
    """issue 14 point 9: only the page is read (LIMIT/OFFSET on the BizId index)."""
    made = await make_messages(store, clock, 250)
    account = made[0].account_id
    total, page = await store.biz_page(account, made[0].biz_id, 20, 20)
    assert total == 250 and [m.id for m in page] == [m.id for m in made[20:40]]
    other = await store.create_account("other", clock.now())
    assert await store.biz_page(AccountId(other.id), made[0].biz_id, 0, 20) == (0, [])
