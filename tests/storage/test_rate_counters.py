"""The embedded counter's persistence: each key's windows in one row, written with the
acceptance commits and read back by a new process; emptied keys deleted, failed commits
written again, expired rows purged."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import text

from tests.contract.test_rate_counter import china
from yizhan.domain.model import Message
from yizhan.domain.rates import RateCheck, Window
from yizhan.storage.rate_counters import SqlRateCounter
from yizhan.storage.store import SqlStore

MINUTE = RateCheck("v:1", Window.MINUTE, 1)
HOUR = RateCheck("v:1", Window.HOUR, 5)  # the windows of one key share its row
DAY = RateCheck("v:1", Window.DAY, 10)


async def rows(store: SqlStore) -> list[tuple[object, ...]]:
    async with store._read() as conn:
        found = await conn.execute(text(
            "SELECT key, minute_count, hour_count, day_count, day_start, expires_at "
            "FROM rate_counters"))
        return sorted(tuple(r) for r in found)


async def test_windows_are_written_with_the_commits_and_read_back(store: SqlStore) -> None:
    counter = await SqlRateCounter.open(store, china(24, 11))
    flush = counter.committing(store.accept)
    await counter.admit([[HOUR, DAY]] * 3, china(24, 11))
    await counter.admit([[MINUTE]], china(24, 11, 30))
    await flush([])
    assert await rows(store) == [("v:1", 1, 3, 3, china(24, 11), china(25, 11))]
    await counter.admit([[HOUR, DAY]], china(24, 12, 30))  # a new hour window, same row
    await flush([])
    assert await rows(store) == [("v:1", 1, 1, 4, china(24, 11), china(25, 11))]
    again = await SqlRateCounter.open(store, china(24, 12, 40))  # another process, later
    minute, hour, day = await again.peek([MINUTE, HOUR, DAY], china(24, 12, 40))
    assert (minute.count, hour.count, day.count, day.start) == (0, 1, 4, china(24, 11))
    answers = await again.admit([[HOUR]] * 5, china(24, 12, 40))  # 1 of 5 used
    assert answers[:4] == [None] * 4 and answers[4] is not None


async def test_a_key_released_to_nothing_is_deleted(store: SqlStore) -> None:
    counter = await SqlRateCounter.open(store, china(24, 11))
    flush = counter.committing(store.accept)
    await counter.admit([[DAY]], china(24, 11))
    await flush([])
    await counter.release([[DAY]], china(24, 11))
    await flush([])
    assert await rows(store) == []


async def test_counters_of_a_failed_commit_go_with_the_next_one(store: SqlStore) -> None:
    counter = await SqlRateCounter.open(store, china(24, 11))

    async def failing(batch: Sequence[Message], also: object = None) -> None:
        raise ConnectionError("database went away")

    await counter.admit([[HOUR]], china(24, 11))
    with pytest.raises(ConnectionError):
        await counter.committing(failing)([])
    await counter.admit([[HOUR]], china(24, 11, 1))
    await counter.committing(store.accept)([])
    assert await rows(store) == [("v:1", 0, 2, 0, 0, china(24, 12))]


async def test_expired_rows_are_purged(store: SqlStore) -> None:
    counter = await SqlRateCounter.open(store, china(24, 11))
    flush = counter.committing(store.accept)
    await counter.admit([[HOUR]], china(24, 11))
    await counter.admit([[RateCheck("v:2", Window.DAY, 5)]], china(24, 11))
    await flush([])
    await counter.admit([[RateCheck("v:3", Window.HOUR, 5)]], china(24, 12, 30))
    await flush([])  # a minute on: the hour window of v:1 ended at 12:00
    assert [r[0] for r in await rows(store)] == ["v:2", "v:3"]
