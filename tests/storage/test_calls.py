"""The API call log in the store: written in batches, found by number (refused calls by
their own numbers, accepted sends through their records), listed per account or for the
operator, and purged after `call_log_days` on the injected clock."""

from __future__ import annotations

from datetime import timedelta
from weakref import WeakKeyDictionary

from tests.conftest import ManualClock
from yizhan.domain.calls import ApiCall
from yizhan.domain.ids import IdGenerator, unix_ms
from yizhan.domain.model import AccountId
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.records.retention import Purge
from yizhan.storage.store import SqlStore


def call(clock: ManualClock, account: AccountId | None, *numbers: str, code: str = "OK",
         biz_id: str | None = None, action: str = "SendSms") -> ApiCall:
    """A call answered now on `clock` (its id carries the time; one generator per clock, so
    calls made one after the other have growing ids)."""
    ids = IDS.setdefault(clock, IdGenerator())
    return ApiCall(ids.next_id(unix_ms(clock.now())), action, account, "LTAIkey", "RID",
                   200, code, numbers, len(numbers), "驿站", "SMS_1", "127.0.0.1", biz_id)


IDS: WeakKeyDictionary[ManualClock, IdGenerator] = WeakKeyDictionary()


async def test_calls_are_found_by_number_for_their_account_only(store: SqlStore,
                                                                clock: ManualClock) -> None:
    mine, theirs = AccountId(1), AccountId(2)
    refused = call(clock, mine, "+8613800138000", "+8613800138001",
                   code="isv.SMS_TEMPLATE_ILLEGAL")
    other = call(clock, theirs, "+8613800138000", code="isv.AMOUNT_NOT_ENOUGH")
    stranger = call(clock, None, "+8613800138000", code="InvalidAccessKeyId.NotFound")
    await store.add_calls([refused, other, stranger])
    day = china_today(clock.now())
    assert await store.calls_for_number(mine, "+8613800138001", day) == [refused]
    assert await store.calls_for_number(mine, "+8613800138000", day) == [refused]
    assert await store.calls_for_number(None, "+8613800138000", day) == [
        refused, other, stranger]
    assert await store.calls_for_number(mine, "+8613800138000", day + timedelta(days=1)) == []
    start, end = china_day_bounds(day)
    assert await store.query_calls(mine, start, end) == (1, [refused])
    assert (await store.query_calls(None, start, end))[0] == 3
    assert await store.query_calls(None, start, end, code="isv.AMOUNT_NOT_ENOUGH") == (
        1, [other])


async def test_the_call_log_is_purged_after_its_retention(store: SqlStore) -> None:
    clock = ManualClock()
    old = call(clock, AccountId(1), "+8613800138000", code="isv.SMS_TEMPLATE_ILLEGAL")
    await store.add_calls([old])
    clock.advance(days=20)
    recent = call(clock, AccountId(1), "+8613800138000", code="isv.SMS_TEMPLATE_ILLEGAL")
    await store.add_calls([recent])
    purge = Purge(store, clock, timedelta(days=30), every=3600, batch=1, pause=0,
                  delete=store.purge_calls, what="API calls")
    assert await purge.purge() == 0  # 20 days: both kept
    clock.advance(days=11)  # the first is 31 days old
    assert await purge.purge() == 1
    start, end = china_day_bounds(china_today(old.at))
    assert await store.query_calls(None, start, end) == (0, [])
    assert await store.calls_for_number(None, "+8613800138000", china_today(old.at)) == []
    assert await store.calls_for_number(None, "+8613800138000",
                                        china_today(recent.at)) == [recent]


def test_the_writers_widths_are_the_columns_widths() -> None:
    """The writer cuts texts inline (api/call_log.py); the widths it uses are these."""
    import inspect

    from yizhan.api import call_log
    from yizhan.domain.calls import TEXT_CHARS
    from yizhan.storage.tables import api_calls

    for name, width in TEXT_CHARS.items():
        column = "action" if name == "action" else name
        assert api_calls.c[column].type.length == width, name
    source = inspect.getsource(call_log.CallLog._call)
    for name, width in TEXT_CHARS.items():
        assert f"[:{width}]" in source, name
