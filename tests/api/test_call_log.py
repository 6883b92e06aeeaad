"""The call log's writer (api/call_log.py) on a real store: bounded sizes, the queue's
bound, a stop that flushes, and a call answered while it stops."""

from __future__ import annotations

from tests.conftest import ManualClock
from yizhan.api.call_log import CallLog, Seen
from yizhan.domain.calls import DETAIL_CHARS, NUMBERS_KEPT
from yizhan.domain.model import AccessKey, Account, AccountId
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.storage.store import SqlStore


async def no_key(key_id: str) -> tuple[AccessKey | None, Account | None]:
    return None, None


def send(numbers: str, code: str = "isv.SMS_TEMPLATE_ILLEGAL") -> Seen:
    seen = Seen()
    seen.action = "SendSms" + "x" * 200  # (an action name longer than its column)
    seen.params = {"PhoneNumbers": numbers, "SignName": "驿" * 100, "TemplateCode": "SMS_1",
                   "AccessKeyId": "LTAIsecretless"}
    return seen


async def test_a_long_call_keeps_its_count_and_a_bounded_part(store: SqlStore,
                                                              clock: ManualClock) -> None:
    calls = CallLog(store, clock, no_key, interval=0.01)
    await calls.start()
    numbers = ",".join(str(13_800_000_000 + n) for n in range(1000))
    calls.note(send(numbers), 200, "isv.SMS_TEMPLATE_ILLEGAL", "R" * 100, None,
               ("10.0.0.1", 1234), "模板不合法" * 200)
    await calls.stop()  # a stop writes what waits
    start, end = china_day_bounds(china_today(clock.now()))
    total, [call] = await store.query_calls(None, start, end)
    assert total == 1 and call.number_count == 1000 and len(call.numbers) == NUMBERS_KEPT
    assert call.numbers[0] == "+8613800000000" and call.at.date() == clock.now().date()
    assert (len(call.action), len(call.sign_name), len(call.request_id)) == (96, 64, 64)
    assert call.detail == ("模板不合法" * 200)[:DETAIL_CHARS]  # the refusal's words, cut
    assert (call.key_id, call.account_id, call.client) == ("LTAIsecretless", None, "10.0.0.1")
    calls.note(send("13800138000"), 200, "OK", "R", "1^0", None)  # stopped: not logged
    assert calls.dropped == 1


async def test_past_its_bound_the_queue_drops_and_counts(store: SqlStore,
                                                         clock: ManualClock) -> None:
    calls = CallLog(store, clock, no_key, max_pending=2)
    for _ in range(5):  # (not started: nothing is written meanwhile)
        calls.note(send("13800138000"), 200, "OK", "R", "1^0", None)
    assert calls.dropped == 3
    await calls.start()
    await calls.stop()
    start, end = china_day_bounds(china_today(clock.now()))
    assert (await store.query_calls(AccountId(1), start, end))[0] == 0
    assert (await store.query_calls(None, start, end))[0] == 2
