"""The policy's number lists in the store on SQLite and PostgreSQL: test numbers (bound per
account, limited), opt-outs (added, never removed) and the blacklist (widened, removed),
and the versioned changes intake's in-memory copies refresh from."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.conftest import ManualClock
from yizhan.domain.events import Uplink
from yizhan.domain.model import (
    BlacklistEntry,
    OptOut,
    PhoneNumber,
    ReviewState,
    SignatureScenario,
    UplinkOwner,
)
from yizhan.storage.store import SqlStore

A, B, C = (PhoneNumber(f"+861380013800{i}") for i in range(3))


async def test_test_numbers_bind_list_unbind_and_limit(store: SqlStore,
                                                       clock: ManualClock) -> None:
    acme = await store.create_account("acme", clock.now())
    other = await store.create_account("other", clock.now())
    assert await store.bind_test_number(acme.id, A, clock.now(), limit=2) == "bound"
    assert await store.bind_test_number(acme.id, A, clock.now(), limit=2) == "already"
    assert await store.bind_test_number(acme.id, B, clock.now(), limit=2) == "bound"
    assert await store.bind_test_number(acme.id, C, clock.now(), limit=2) == "full"
    assert await store.bind_test_number(other.id, C, clock.now(), limit=2) == "bound"
    assert [t.phone for t in await store.test_numbers(acme.id)] == [A, B]
    assert await store.unbind_test_number(acme.id, A)
    assert not await store.unbind_test_number(acme.id, A)
    assert [t.phone for t in await store.test_numbers(acme.id)] == [B]


async def test_opt_outs_are_added_once_and_come_as_changes(store: SqlStore,
                                                           clock: ManualClock) -> None:
    acme = await store.create_account("acme", clock.now())
    version, changes = await store.opt_out_changes(0)
    assert (version, changes) == (0, [])
    assert await store.add_opt_out(acme.id, "驿站", A, "R", clock.now())
    clock.advance(days=1)
    assert not await store.add_opt_out(acme.id, "驿站", A, "manual", clock.now())
    assert await store.add_opt_outs([OptOut(acme.id, "驿站", B, "R", clock.now()),
                                     OptOut(acme.id, "别的", A, "R", clock.now()),
                                     OptOut(acme.id, "驿站", A, "R", clock.now())]) == 2
    first = await store.opt_outs(acme.id, "驿站", A)
    assert [(o.source, o.created_at) for o in first] == [("R", clock.now() - timedelta(days=1))]
    assert len(await store.opt_outs(acme.id)) == 3
    version, changes = await store.opt_out_changes(0)
    assert len(changes) == 3
    later, none = await store.opt_out_changes(version)
    assert later == version and none == []
    await store.add_opt_out(acme.id, "别的", C, "R", clock.now())
    _, news = await store.opt_out_changes(version)
    assert [(o.sign_name, o.phone) for o in news] == [("别的", C)]


async def test_blacklist_entries_widen_and_removals_come_as_changes(
        store: SqlStore, clock: ManualClock) -> None:
    await store.add_blacklisted([BlacklistEntry(A, ("驿站",), "complaint", clock.now()),
                                 BlacklistEntry(B, (), "12321", clock.now())])
    version, changes = await store.blacklist_changes(0)
    assert {(e.phone, e.signatures) for e in changes} == {(A, ("驿站",)), (B, ())}
    await store.add_blacklisted([BlacklistEntry(A, ("别的",), "carrier", clock.now()),
                                 BlacklistEntry(B, ("驿站",), "carrier", clock.now())])
    total, entries = await store.blacklisted()
    assert total == 2
    by_phone = {e.phone: e for e in entries}
    assert by_phone[A].signatures == ("驿站", "别的") and by_phone[A].source == "complaint"
    assert by_phone[B].signatures == ()  # "all" stays all
    assert await store.remove_blacklisted([B, C], clock.now()) == 1
    after, changes = await store.blacklist_changes(version)
    assert after > version
    assert {(e.phone, e.removed) for e in changes} == {(A, False), (B, True)}
    assert (await store.blacklisted(B))[0] == 0
    await store.add_blacklisted([BlacklistEntry(B, ("驿站",), "again", clock.now())])
    _, entries = await store.blacklisted(B)
    assert [(e.signatures, e.source) for e in entries] == [(("驿站",), "again")]


async def test_uplinks_store_the_opt_out_their_rule_decides_and_nothing_else(
        store: SqlStore, clock: ManualClock) -> None:
    """The store decides no opt-out itself (receipts/uplinks.py does): it asks the rule it
    is given about each uplink whose owner it found, and writes what the rule answers."""
    acme = await store.create_account("acme", clock.now())
    signature = await store.create_signature(acme.id, "驿站", SignatureScenario.GENERAL,
                                             ReviewState.APPROVED, clock.now())
    asked: list[tuple[str, UplinkOwner]] = []

    def every_reply_but_hello(uplink: Uplink, owner: UplinkOwner) -> OptOut | None:
        asked.append((uplink.content, owner))
        if uplink.content == "hello":
            return None
        return OptOut(owner.account_id, owner.sign_name, owner.phone, "rule", clock.now())

    def reply(phone: str, text: str, extension: str = str(signature.id)) -> Uplink:
        return Uplink("sim", phone, "1069" + extension, text, clock.now(), extension)

    await store.store_uplinks([reply("13800138001", "thanks"), reply("13800138002", "hello"),
                               reply("13800138000", "R", "999999")],
                              opt_out=every_reply_but_hello)
    owner = UplinkOwner(acme.id, "驿站", B, f"extension {signature.id}")
    assert asked == [("thanks", owner), ("hello", replace(owner, phone=C))]  # not the third:
    # its extension names no signature and nobody sent to its number
    assert [(o.phone, o.source) for o in await store.opt_outs(acme.id)] == [(B, "rule")]
    await store.store_uplinks([reply("13800138000", "R")])  # no rule: nothing opts out
    assert [o.phone for o in await store.opt_outs(acme.id)] == [B]
