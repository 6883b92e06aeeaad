"""A channel's last minute (dispatch/recent.py), as the router keeps it and the operator's
channel page shows it: submits, the carrier's refusals apart, and the error rate, counted on
the clock the test drives."""

from __future__ import annotations

from tests.conftest import ManualClock
from tests.dispatch.test_router import message, sims
from yizhan.dispatch.recent import Minute, RecentSubmits
from yizhan.dispatch.router import Route, Router, Target
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable


def test_the_last_minute_of_a_channel_as_the_router_records_it() -> None:
    clock = ManualClock()
    router = Router(sims("main", "backup"), [Route("r", (Target("main"),
                                                         Target("backup", tier=2)))],
                    clock=clock)
    for _ in range(6):
        router.record("main", Accepted("r1"))
    router.record("main", Rejected("ESME_RINVDSTADR"))  # an answer: not an error
    router.record("main", Retryable("throttled"))
    router.record("main", Ambiguous("no answer"))
    health = {h.name: h for h in router.health()}
    assert health["main"].minute == Minute(9, 1, 2)
    assert health["main"].minute.error_rate == 2 / 9
    assert health["backup"].minute == Minute(0, 0, 0)
    assert health["backup"].minute.error_rate is None  # no submit: no rate
    assert health["main"].window is None and health["main"].binds is None  # in process
    clock.advance(seconds=30)
    router.record("main", Accepted("r2"))
    assert router.health()[0].minute == Minute(10, 1, 2)
    clock.advance(seconds=30)  # the first nine are a minute old now
    assert router.health()[0].minute == Minute(1, 0, 0)
    clock.advance(seconds=30)
    assert router.health()[0].minute == Minute(0, 0, 0)
    assert router.pick(message()).channel.name == "main"  # type: ignore[union-attr]


def test_a_bucket_is_reused_a_minute_later_without_its_old_counts() -> None:
    recent = RecentSubmits()
    recent.add(100.5, 2)
    recent.add(160.2, 0)  # the same slot, a minute on
    assert recent.minute(160.9) == Minute(1, 0, 0)
    assert recent.minute(219.0) == Minute(1, 0, 0)
    assert recent.minute(220.0) == Minute(0, 0, 0)
