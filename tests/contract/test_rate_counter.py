"""The `RateCounter` contract, run against every implementation (embedded SQL on SQLite and
PostgreSQL, Redis): windows at their exact edges, atomic decisions, release, peek."""

from __future__ import annotations

import asyncio
from datetime import datetime

from yizhan.domain.ports import RateCounter
from yizhan.domain.rates import Blocked, RateCheck, Window, to_ms
from yizhan.domain.timezone import CHINA


def china(day: int, hour: int, minute: int = 0, second: int = 0, ms: int = 0,
          month: int = 8) -> int:
    """An instant in China time (2026), as the counters' milliseconds."""
    return to_ms(datetime(2026, month, day, hour, minute, second, ms * 1000, tzinfo=CHINA))


MINUTE = RateCheck("v.minute:n1", Window.MINUTE, 1)
HOUR = RateCheck("v.hour:n1", Window.HOUR, 5)
DAY = RateCheck("v.day:n1", Window.DAY, 10)


async def admit_one(counter: RateCounter, checks: list[RateCheck], at: int) -> Blocked | None:
    return (await counter.admit([checks], at))[0]


async def test_minute_window_is_the_whole_clock_minute(counter: RateCounter) -> None:
    assert await admit_one(counter, [MINUTE], china(24, 11, 0, 0)) is None
    blocked = await admit_one(counter, [MINUTE], china(24, 11, 0, 59, 999))
    assert blocked == Blocked(0, 1, china(24, 11, 1))
    assert await admit_one(counter, [MINUTE], china(24, 11, 1, 0, 0)) is None


async def test_a_message_late_in_a_minute_does_not_block_the_next_minute(
        counter: RateCounter) -> None:
    assert await admit_one(counter, [MINUTE], china(24, 11, 0, 59, 999)) is None
    assert await admit_one(counter, [MINUTE], china(24, 11, 1, 0, 0)) is None


async def test_hour_window_changes_on_the_hour(counter: RateCounter) -> None:
    for minute in range(40, 45):
        assert await admit_one(counter, [HOUR], china(24, 11, minute)) is None
    blocked = await admit_one(counter, [HOUR], china(24, 11, 59, 59, 999))
    assert blocked == Blocked(0, 5, china(24, 12))
    assert await admit_one(counter, [HOUR], china(24, 12, 0, 0, 0)) is None


async def test_day_window_opens_at_the_first_message_and_lasts_24_hours(
        counter: RateCounter) -> None:
    assert await admit_one(counter, [DAY], china(24, 11)) is None
    for hour in range(12, 21):
        assert await admit_one(counter, [DAY], china(24, hour)) is None
    # Not a calendar day: after midnight the window opened at 11:00 still holds.
    assert await admit_one(counter, [DAY], china(25, 0, 30)) == Blocked(0, 10, china(25, 11))
    assert await admit_one(counter, [DAY], china(25, 10, 59, 59, 999)) == Blocked(
        0, 10, china(25, 11))
    assert await admit_one(counter, [DAY], china(25, 11, 0, 0, 0)) is None
    # ... and that message opened the next window: 24 hours from 08-25 11:00.
    [window] = await counter.peek([DAY], china(25, 11, 0, 1))
    assert (window.count, window.start, window.end) == (1, china(25, 11), china(26, 11))


async def test_a_message_counts_in_all_its_windows_or_in_none(counter: RateCounter) -> None:
    tight = RateCheck("v.day:tight", Window.DAY, 1)
    assert await admit_one(counter, [HOUR, tight], china(24, 11)) is None
    # The second check is full: the first one must not count either.
    assert await admit_one(counter, [HOUR, tight], china(24, 11, 5)) == Blocked(
        1, 1, china(25, 11))
    hour, day = await counter.peek([HOUR, tight], china(24, 11, 6))
    assert (hour.count, day.count) == (1, 1)


async def test_messages_of_one_call_are_decided_in_order(counter: RateCounter) -> None:
    answers = await counter.admit([[HOUR]] * 7, china(24, 11))
    assert answers[:5] == [None] * 5
    assert answers[5:] == [Blocked(0, 5, china(24, 12))] * 2


async def test_concurrent_requests_never_admit_more_than_the_limit(
        counter: RateCounter) -> None:
    answers = await asyncio.gather(*(admit_one(counter, [HOUR, DAY], china(24, 11))
                                     for _ in range(40)))
    assert sum(answer is None for answer in answers) == 5


async def test_peek_counts_nothing(counter: RateCounter) -> None:
    assert await admit_one(counter, [MINUTE], china(24, 11)) is None
    for _ in range(3):
        minute, day = await counter.peek([MINUTE, DAY], china(24, 11, 0, 30))
    assert (minute.count, minute.start, minute.end) == (1, china(24, 11), china(24, 11, 1))
    assert (day.count, day.start, day.end) == (0, None, None)  # no day window opened
    assert await admit_one(counter, [DAY], china(24, 11, 0, 31)) is None


async def test_release_takes_back_a_count_that_was_not_committed(counter: RateCounter) -> None:
    assert await admit_one(counter, [HOUR], china(24, 11)) is None
    assert await admit_one(counter, [HOUR, DAY], china(24, 11, 10)) is None
    await counter.release([[HOUR, DAY]], china(24, 11, 10))
    hour, day = await counter.peek([HOUR, DAY], china(24, 11, 20))
    assert hour.count == 1
    # The released message had opened the day window: it is as if it never had.
    assert (day.count, day.start) == (0, None)
    assert await admit_one(counter, [DAY], china(24, 13)) is None
    [day] = await counter.peek([DAY], china(24, 13))
    assert day.start == china(24, 13)


async def test_release_after_the_window_changed_takes_nothing_from_the_new_one(
        counter: RateCounter) -> None:
    assert await admit_one(counter, [HOUR], china(24, 11, 59)) is None
    assert await admit_one(counter, [HOUR], china(24, 12, 0)) is None
    await counter.release([[HOUR]], china(24, 11, 59))
    [hour] = await counter.peek([HOUR], china(24, 12, 1))
    assert hour.count == 1


async def test_windows_of_one_key_count_apart(counter: RateCounter) -> None:
    family = [RateCheck("sig:n1", Window.MINUTE, 1), RateCheck("sig:n1", Window.HOUR, 2),
              RateCheck("sig:n1", Window.DAY, 3)]
    assert await admit_one(counter, family, china(24, 11)) is None
    assert await admit_one(counter, family, china(24, 11, 0, 30)) == Blocked(
        0, 1, china(24, 11, 1))
    assert await admit_one(counter, family, china(24, 11, 1)) is None
    assert await admit_one(counter, family, china(24, 11, 2)) == Blocked(1, 2, china(24, 12))
    assert await admit_one(counter, family, china(24, 12, 0)) is None
    assert await admit_one(counter, family, china(24, 13, 0)) == Blocked(2, 3, china(25, 11))
    minute, hour, day = await counter.peek(family, china(24, 13, 0))
    assert (minute.count, hour.count, day.count) == (0, 0, 3)


async def test_keys_are_independent(counter: RateCounter) -> None:
    other = RateCheck("v.minute:n2", Window.MINUTE, 1)
    assert await admit_one(counter, [MINUTE], china(24, 11)) is None
    assert await admit_one(counter, [other], china(24, 11)) is None
    assert await admit_one(counter, [], china(24, 11)) is None  # nothing to check: admitted
