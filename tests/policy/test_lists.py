"""In-memory number lists: changes applied in order, refreshed at most every ttl seconds,
one refresh shared by concurrent callers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.conftest import ManualClock
from yizhan.domain.model import AccountId, BlacklistEntry, OptOut, PhoneNumber
from yizhan.policy.lists import Blacklist, OptOuts, Snapshot

NOW = datetime(2026, 11, 25, tzinfo=UTC)
A = PhoneNumber("+8613800138000")


def entry(signatures: tuple[str, ...] = (), removed: bool = False) -> BlacklistEntry:
    return BlacklistEntry(A, signatures, "complaint", NOW, removed)


def test_blacklist_applies_additions_and_removals_in_order() -> None:
    blacklist = Blacklist()
    blacklist.apply([entry(("驿站",)), entry(), entry(removed=True), entry(("别的",))])
    assert blacklist.signatures(A) == ("别的",) and len(blacklist) == 1
    blacklist.apply([entry(removed=True)])
    assert blacklist.signatures(A) is None and len(blacklist) == 0


def test_opt_outs_are_per_account_and_signature() -> None:
    opt_outs = OptOuts()
    opt_outs.apply([OptOut(AccountId(1), "驿站", A, "R", NOW)])
    assert opt_outs.refused(1, "驿站", A)
    assert not opt_outs.refused(2, "驿站", A) and not opt_outs.refused(1, "别的", A)
    assert len(opt_outs) == 1


async def test_snapshot_asks_for_changes_since_its_version_at_most_every_ttl() -> None:
    asked: list[int] = []
    pending = [(3, [entry()]), (5, [entry(removed=True)])]
    entered, release = asyncio.Event(), asyncio.Event()

    async def changes(since: int) -> tuple[int, list[BlacklistEntry]]:
        asked.append(since)
        entered.set()
        await release.wait()  # the read is under way while the other callers come
        return pending.pop(0) if pending else (since, [])

    clock = ManualClock()
    fresh = Snapshot(Blacklist(), changes, clock, ttl=60)
    getting = asyncio.gather(*(fresh.get() for _ in range(5)))
    await asyncio.wait_for(entered.wait(), 5)
    release.set()
    lists = await asyncio.wait_for(getting, 5)
    assert asked == [0] and all(held.signatures(A) == () for held in lists)
    clock.advance(seconds=59.9)
    await fresh.get()
    assert asked == [0]  # within the ttl: no store read
    clock.advance(seconds=0.1)
    assert (await fresh.get()).signatures(A) is None  # the ttl passed: version 3 on, removed
    assert asked == [0, 3]

    always = Snapshot(Blacklist(), changes, clock, ttl=0)
    await always.get()
    await always.get()
    assert asked == [0, 3, 0, 0]


async def test_a_snapshot_near_its_end_reads_the_changes_in_the_background() -> None:
    asked: list[int] = []

    async def changes(since: int) -> tuple[int, list[BlacklistEntry]]:
        asked.append(since)
        return (3, [entry()]) if since == 0 else (4, [entry(removed=True)])

    clock = ManualClock()
    held = Snapshot(Blacklist(), changes, clock, ttl=1.0)
    assert (await held.get()).signatures(A) == ()
    clock.advance(seconds=0.8)
    assert (await held.get()).signatures(A) == ()  # at once: the read goes on beside
    for _ in range(5):
        await asyncio.sleep(0)
    assert asked == [0, 3]
    assert (await held.get()).signatures(A) is None  # applied, and fresh for a second
    clock.advance(seconds=0.7)
    await held.get()
    assert asked == [0, 3]
