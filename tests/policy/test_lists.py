"""In-memory number lists: changes applied in order, refreshed at most every ttl seconds,
one refresh shared by concurrent callers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

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

    async def changes(since: int) -> tuple[int, list[BlacklistEntry]]:
        asked.append(since)
        await asyncio.sleep(0)
        return pending.pop(0) if pending else (since, [])

    fresh = Snapshot(Blacklist(), changes, ttl=60)
    lists = await asyncio.gather(*(fresh.get() for _ in range(5)))
    assert asked == [0] and all(held.signatures(A) == () for held in lists)
    await fresh.get()
    assert asked == [0]  # within the ttl: no store read

    always = Snapshot(Blacklist(), changes, ttl=0)
    assert (await always.get()).signatures(A) is None  # version 5: removed
    await always.get()
    assert asked == [0, 0, 5]
