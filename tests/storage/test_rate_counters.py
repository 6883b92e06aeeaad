"""The embedded counter's persistence: the keys a commit changed go into one log row of that
commit, a new process reads the windows back, emptied keys stay empty, failed commits are
written again, old rows are purged, and the per-key rows of earlier versions still count."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import Connection, text

from tests.contract.test_rate_counter import china
from yizhan.domain.model import Message
from yizhan.domain.rates import RateCheck, Window
from yizhan.storage.rate_counters import SqlRateCounter, decode, encode
from yizhan.storage.store import SqlStore

MINUTE = RateCheck("v:1", Window.MINUTE, 1)
HOUR = RateCheck("v:1", Window.HOUR, 5)  # the windows of one key share its entry
DAY = RateCheck("v:1", Window.DAY, 10)


async def log_rows(store: SqlStore) -> list[tuple[int, dict[str, int]]]:
    async with store._read() as conn:
        found = await conn.execute(text(
            "SELECT written_at, entries FROM rate_counter_log ORDER BY id"))
        return [(r[0], decode(bytes(r[1]))) for r in found]


async def counts(store: SqlStore, at: int, *checks: RateCheck) -> list[int]:
    """What a process started at `at` reads back."""
    again = await SqlRateCounter.open(store, at)
    return [c.count for c in await again.peek(list(checks), at)]


def test_entries_survive_encoding() -> None:
    entries = {"v:驿站:+8613800138000": (1 << 159) + 12345, "n:+8613800138000": 0}
    assert decode(encode(entries)) == entries


async def test_windows_are_written_with_the_commits_and_read_back(store: SqlStore) -> None:
    counter = await SqlRateCounter.open(store, china(24, 11))
    flush = counter.committing(store.accept)
    await counter.admit([[HOUR, DAY]] * 3, china(24, 11))
    await counter.admit([[MINUTE]], china(24, 11, 30))
    await flush([])
    await flush([])  # nothing changed: nothing written
    assert [list(entries) for _, entries in await log_rows(store)] == [["v:1"]]
    assert await counts(store, china(24, 11, 30), MINUTE, HOUR, DAY) == [1, 3, 3]
    await counter.admit([[HOUR, DAY]], china(24, 12, 30))  # a new hour window
    await flush([])
    assert len(await log_rows(store)) == 2
    again = await SqlRateCounter.open(store, china(24, 12, 40))  # another process, later
    minute, hour, day = await again.peek([MINUTE, HOUR, DAY], china(24, 12, 40))
    assert (minute.count, hour.count, day.count, day.start) == (0, 1, 4, china(24, 11))
    answers = await again.admit([[HOUR]] * 5, china(24, 12, 40))  # 1 of 5 used
    assert answers[:4] == [None] * 4 and answers[4] is not None


async def test_a_key_released_to_nothing_stays_empty(store: SqlStore) -> None:
    counter = await SqlRateCounter.open(store, china(24, 11))
    flush = counter.committing(store.accept)
    await counter.admit([[DAY]], china(24, 11))
    await flush([])
    assert await counts(store, china(24, 11), DAY) == [1]
    await counter.release([[DAY]], china(24, 11))
    await flush([])
    assert (await log_rows(store))[-1][1] == {"v:1": 0}
    assert await counts(store, china(24, 11), DAY) == [0]


async def test_counters_of_a_failed_commit_go_with_the_next_one(store: SqlStore) -> None:
    counter = await SqlRateCounter.open(store, china(24, 11))

    async def failing(batch: Sequence[Message], also: object = None) -> None:
        raise ConnectionError("database went away")

    await counter.admit([[HOUR]], china(24, 11))
    with pytest.raises(ConnectionError):
        await counter.committing(failing)([])
    await counter.admit([[RateCheck("v:2", Window.DAY, 5)]], china(24, 11, 1))
    await counter.committing(store.accept)([])
    [(_, entries)] = await log_rows(store)
    assert sorted(entries) == ["v:1", "v:2"]
    assert await counts(store, china(24, 11, 2), HOUR, RateCheck("v:2", Window.DAY, 5)) == [1, 1]


async def test_a_day_old_log_row_is_purged_and_ended_windows_are_not_read(
        store: SqlStore) -> None:
    counter = await SqlRateCounter.open(store, china(24, 11))
    flush = counter.committing(store.accept)
    await counter.admit([[HOUR]], china(24, 11))
    await counter.admit([[RateCheck("v:2", Window.DAY, 5)]], china(24, 11))
    await flush([])
    assert await counts(store, china(24, 12, 30), HOUR,
                        RateCheck("v:2", Window.DAY, 5)) == [0, 1]  # the hour ended at 12:00
    await counter.admit([[RateCheck("v:3", Window.HOUR, 5)]], china(25, 11, 30))
    await flush([])  # a day on: the first row's windows have all ended
    assert [list(entries) for _, entries in await log_rows(store)] == [["v:3"]]


async def test_rows_of_earlier_versions_are_read_first_and_purged(store: SqlStore) -> None:
    def old_rows(conn: Connection) -> None:
        conn.execute(text(
            "INSERT INTO rate_counters (id, key, minute_start, minute_count, hour_start, "
            "hour_count, day_start, day_count, expires_at) VALUES "
            f"(1, 'v:1', 0, 0, 0, 0, {china(24, 10)}, 2, {china(25, 10)}), "
            f"(2, 'v:2', 0, 0, {china(24, 10)}, 1, 0, 0, {china(24, 11)})"))

    await store._transaction(old_rows)
    assert await counts(store, china(24, 10, 30), DAY, RateCheck("v:2", Window.HOUR, 5)) == [2, 1]
    counter = await SqlRateCounter.open(store, china(24, 10, 30))
    flush = counter.committing(store.accept)
    await counter.admit([[DAY]], china(24, 12))  # the log's entry replaces the old row's
    await flush([])
    assert await counts(store, china(24, 12), DAY) == [3]
    async with store._read() as conn:
        left = [r[0] for r in await conn.execute(text("SELECT key FROM rate_counters"))]
    assert left == ["v:1"]  # v:2's hour ended at 11:00 and was purged with that commit
