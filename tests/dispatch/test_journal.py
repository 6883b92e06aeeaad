"""The submit journal (issue 14 point 3): which claims of a round cut off by a crash never
left the process. Unit tests of the file, and the hook where the SMPP channel writes: a
submit waiting for window space is not journaled, one handed to the link is."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import ManualClock
from tests.storage.test_store import LEASE, build_messages, make_messages
from yizhan.backends.local import LocalBus
from yizhan.dispatch import journal as journal_module
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.journal import SubmitJournal
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import Account, AccountId, AccountStatus
from yizhan.domain.ports import Claim, Unsent
from yizhan.simulator.smsc import SmscServer
from yizhan.storage.store import SqlStore


def claims(clock: ManualClock, count: int) -> list[Claim]:
    account = Account(AccountId(1), "acme", AccountStatus.ACTIVE, clock.now())
    return [Claim(100 + n, n, m) for n, m in enumerate(build_messages(account, clock, count))]


def opened(folder: Path) -> SubmitJournal:
    journal = SubmitJournal.open(folder)
    assert journal is not None
    return journal


def left_over(folder: Path) -> list[Unsent]:
    """What a journal in `folder` holds, read as the next start would (and released)."""
    journal = opened(folder)
    assert journal.path.name == "dispatch.journal"
    try:
        return journal.left_over()
    finally:
        journal.close()


def test_the_claims_whose_submit_never_left_are_left_over_after_a_crash(
        tmp_path: Path, clock: ManualClock) -> None:
    first = opened(tmp_path)
    first.restart()
    round_ = claims(clock, 3)
    first.claimed(round_)
    first.sending(round_[1].message.id)
    first.close()  # killed: nothing settled the round
    assert stat.S_IMODE(os.stat(first.path).st_mode) == 0o600
    second = opened(tmp_path)
    assert second.path == first.path
    assert second.left_over() == [Unsent(c.message.id, c.outbox_id, c.attempts)
                                  for c in (round_[0], round_[2])]
    second.restart()
    second.close()
    assert left_over(tmp_path) == []


def test_a_round_whose_outcomes_were_committed_leaves_nothing(tmp_path: Path,
                                                             clock: ManualClock) -> None:
    journal = opened(tmp_path)
    journal.restart()
    journal.claimed(claims(clock, 2))
    journal.settled()
    journal.close()
    assert left_over(tmp_path) == []


def test_only_the_round_after_the_last_settled_one_counts_and_the_file_stays_small(
        tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "MAX_BYTES", 4096)
    journal = opened(tmp_path)
    journal.restart()
    for _ in range(500):
        journal.claimed(claims(clock, 3))
        journal.settled()
    last = claims(clock, 2)
    journal.claimed(last)
    journal.close()
    assert journal.path.stat().st_size < 4096 + 200
    assert [u.message_id for u in left_over(tmp_path)] == [c.message.id for c in last]


def test_a_journal_that_cannot_be_written_is_given_up_and_trusts_nothing(
        tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk full of data: a missing `s` line must not requeue a message that left."""
    journal = opened(tmp_path)
    journal.restart()
    round_ = claims(clock, 2)
    journal.claimed(round_)

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(journal_module.os, "write", full)
        journal.sending(round_[0].message.id)  # its submit goes on regardless
    journal.sending(round_[1].message.id)
    journal.claimed(claims(clock, 1))
    journal.close()
    assert left_over(tmp_path) == []


def test_a_line_cut_short_counts_for_nothing(tmp_path: Path, clock: ManualClock) -> None:
    journal = opened(tmp_path)
    journal.restart()
    round_ = claims(clock, 2)
    journal.claimed(round_)
    with open(journal.path, "ab") as file:  # a claim line whose newline never came
        file.write(b"c 12 13 0")
    journal.close()
    assert [u.message_id for u in left_over(tmp_path)] == [
        c.message.id for c in round_]


def test_a_journal_written_before_the_last_boot_is_not_trusted(
        tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A power loss may have lost its last writes: its messages become unknown."""
    boot = tmp_path / "boot_id"
    boot.write_text("first-boot\n")
    monkeypatch.setattr(journal_module, "BOOT_ID", boot)
    journal = opened(tmp_path / "data")
    journal.restart()
    journal.claimed(claims(clock, 2))
    journal.close()
    assert len(left_over(tmp_path / "data")) == 2
    boot.write_text("second-boot\n")
    assert left_over(tmp_path / "data") == []
    boot.write_text("first-boot\n")
    monkeypatch.setattr(journal_module, "BOOT_ID", tmp_path / "none")
    assert left_over(tmp_path / "data") == []  # no boot id: never trusted


def test_each_dispatcher_locks_a_journal_of_its_own(tmp_path: Path) -> None:
    first, second = opened(tmp_path), opened(tmp_path)
    assert (first.path.name, second.path.name) == ("dispatch.journal", "dispatch-2.journal")
    first.close()
    assert opened(tmp_path).path.name == "dispatch.journal"


async def test_a_submit_waiting_for_window_space_is_not_journaled_one_handed_over_is(
        store: SqlStore, clock: ManualClock, tmp_path: Path) -> None:
    """Issue 14 point 3: with a window of one, the first submit_sm goes out and hangs; the
    crash comes while two more wait for window space. The restart queues those two again;
    only the first becomes unknown."""
    smsc = SmscServer(manual=True)
    port = await smsc.start()
    channel = SmppChannel(SmppConfig("smpp", "127.0.0.1", port, "yz", window=1), clock)
    await channel.start(Ignore())
    await asyncio.wait_for(channel.bound.wait(), 5)
    made = [(await make_messages(store, clock, 1, phone=f"+861380000000{n}"))[0]
            for n in range(3)]
    journal = opened(tmp_path)
    journal.restart()
    worker = DispatchWorker(store, Router.single([channel], "smpp", clock=clock), LocalBus(), clock,
                            DispatchConfig(window=3), journal=journal)
    round_ = asyncio.create_task(worker.run_once())
    try:
        out = await smsc.expect()
        round_.cancel()  # killed mid-round
        await asyncio.gather(round_, return_exceptions=True)
        journal.close()
    finally:
        await channel.stop()
        await smsc.stop()
    left = left_over(tmp_path)
    sent = next(m for m in made if m.phone.endswith(out.message.destination_addr))
    assert sorted(u.message_id for u in left) == sorted(m.id for m in made if m is not sent)
    assert sorted(await store.requeue_unsent(left)) == sorted(u.message_id for u in left)
    await store.release_claims()
    again, interrupted = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert sorted(c.message.id for c in again) == sorted(u.message_id for u in left)
    assert interrupted == [sent.id]


async def test_a_crash_right_after_the_claim_commits_requeues_the_whole_round(
        store: SqlStore, clock: ManualClock, tmp_path: Path) -> None:
    """The claims are journaled inside the claim's transaction: killed the moment the
    claim committed (before the worker ran again), the next start finds every claim of the
    round journaled and unsent, and puts them all back; none becomes unknown."""
    made = await make_messages(store, clock, 3)
    journal = opened(tmp_path)
    journal.restart()
    claimed, _ = await store.claim_dispatch(clock.now(), 10, LEASE, journal=journal.claimed)
    journal.close()  # killed here
    left = left_over(tmp_path)
    assert sorted(u.message_id for u in left) == sorted(m.id for m in made)
    assert sorted(await store.requeue_unsent(left)) == sorted(m.id for m in made)
    await store.release_claims()
    again, interrupted = await store.claim_dispatch(clock.now(), 10, LEASE)
    assert sorted(c.message.id for c in again) == sorted(c.message.id for c in claimed)
    assert interrupted == []


class Ignore:
    async def __call__(self, event: object) -> None:
        pass

    async def many(self, events: object) -> None:
        pass
