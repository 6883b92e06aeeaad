"""The in-memory nonce window of the one accepting process (SQLite): the same answers as the
shared nonce table, read back by the next start, and taken back when a commit fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from tests.conftest import ManualClock, opened_store
from tests.storage.test_store import build_messages
from yizhan.domain.model import SignatureNonce
from yizhan.storage.store import SqlStore


@pytest.fixture
async def windowed(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqlStore]:
    async with opened_store("sqlite", tmp_path) as store:
        assert await store.use_nonce_window(clock.now())
        yield store


async def test_nonces_are_new_once_per_key_and_forgotten_after_the_window(
        windowed: SqlStore, clock: ManualClock) -> None:
    store = windowed
    assert await store.remember_nonces([("k1", "n1"), ("k1", "n2")], clock.now()) == {
        ("k1", "n1"), ("k1", "n2")}
    assert await store.remember_nonces([("k1", "n1"), ("k2", "n1")], clock.now()) == {
        ("k2", "n1")}
    assert not await store.remember_nonce("k1", "n2", clock.now())
    clock.advance(minutes=29)
    assert not await store.remember_nonce("k1", "n1", clock.now())
    clock.advance(minutes=2)
    assert await store.remember_nonce("k1", "fresh", clock.now())  # purges the old ones
    assert await store.remember_nonce("k1", "n1", clock.now())


async def test_nonces_commit_with_the_messages_they_signed(
        windowed: SqlStore, clock: ManualClock) -> None:
    store = windowed
    account = await store.create_account("acme", clock.now())
    first, second = (build_messages(account, clock, n) for n in (2, 1))
    signed = [SignatureNonce("k1", "n1", first[0].biz_id),
              SignatureNonce("k1", "n1", second[0].biz_id)]  # the same nonce in one batch
    assert await store.accept([signed[0], *first, signed[1], *second]) == [
        True, None, None, False, None]
    assert len(await store.messages_by_biz(account.id, first[0].biz_id)) == 2
    assert await store.messages_by_biz(account.id, second[0].biz_id) == []  # the replay
    assert not await store.remember_nonce("k1", "n1", clock.now())


async def test_the_next_start_reads_the_window_back(tmp_path: Path, clock: ManualClock) -> None:
    async with opened_store("sqlite", tmp_path) as store:
        # An earlier version's table, then this one's log.
        await store.remember_nonces([("k1", "old")], clock.now())
        assert await store.use_nonce_window(clock.now())
        await store.remember_nonces([("k1", "new")], clock.now())
    clock.advance(minutes=10)
    async with opened_store("sqlite", tmp_path) as again:
        assert await again.use_nonce_window(clock.now())
        assert await again.remember_nonces([("k1", "old"), ("k1", "new"), ("k1", "other")],
                                           clock.now()) == {("k1", "other")}


async def test_a_failed_commit_takes_its_nonces_back(windowed: SqlStore,
                                                     clock: ManualClock) -> None:
    store = windowed

    def fails(conn: Connection) -> None:
        store._remember(conn, [("k1", "n1")], clock.now(), False)
        conn.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no_such_table"):
        await store._transaction(fails)
    assert await store.remember_nonce("k1", "n1", clock.now())  # not a replay: never recorded
    async with store._read() as conn:
        rows = (await conn.execute(text("SELECT nonce FROM nonce_log"))).all()
    assert [r[0] for r in rows] == ["n1"]
