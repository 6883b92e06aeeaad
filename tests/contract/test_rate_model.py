"""Model-based property test: every `RateCounter` against a deliberately naive reference
over random send sequences. The reference keeps the list of admitted instants per counter
and recounts from scratch (day windows by walking the instants from the first one), so it
shares no state machine with the implementations."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.test_rate_counter import china
from yizhan.domain.ports import RateCounter
from yizhan.domain.rates import Admitted, Blocked, RateCheck, Window, clock_start

DAY_MS = 86_400_000


class Reference:
    def __init__(self) -> None:
        self.admitted: dict[str, list[int]] = {}

    def window(self, check: RateCheck, now: int) -> tuple[int, int | None]:
        """(count, window end) of `check` at `now` (no end: no window open)."""
        times = self.admitted.get(f"{check.key}/{check.window}", [])
        if check.window is not Window.DAY:
            start = clock_start(check.window, now)
            return (sum(clock_start(check.window, t) == start for t in times),
                    start + check.window.length_ms)
        anchor: int | None = None
        for t in times:  # each window opens at the first message after the previous one
            if anchor is None or t >= anchor + DAY_MS:
                anchor = t
        if anchor is None or now >= anchor + DAY_MS:
            return 0, None
        return sum(t >= anchor for t in times), anchor + DAY_MS

    def decide(self, checks: list[RateCheck], now: int) -> Blocked | Admitted:
        seen: list[int] = []
        for index, check in enumerate(checks):
            count, end = self.window(check, now)
            if count >= check.limit:
                return Blocked(index, count, end if end is not None else now + DAY_MS,
                               tuple(seen))
            seen += count, now if end is None else end - check.window.length_ms
        for check in checks:
            self.admitted.setdefault(f"{check.key}/{check.window}", []).append(now)
        return Admitted(tuple(seen))


POOL = [("minute", Window.MINUTE, 1), ("minute2", Window.MINUTE, 2), ("hour", Window.HOUR, 3),
        ("day", Window.DAY, 4), ("day1", Window.DAY, 1),
        # one key, three windows (as a rule family counts)
        ("family", Window.MINUTE, 1), ("family", Window.HOUR, 3), ("family", Window.DAY, 5)]
STEPS = st.one_of(st.sampled_from([0, 1, 999, 59_999, 60_000, 3_599_999, 3_600_000,
                                   86_399_999, 86_400_000]),
                  st.integers(0, 7_200_000))
SENDS = st.lists(st.tuples(STEPS, st.lists(st.sampled_from(range(len(POOL))), min_size=1,
                                           max_size=3, unique=True)),
                 min_size=1, max_size=40)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, DAY_MS - 1), sends=SENDS)
async def test_counter_agrees_with_the_reference(counter: RateCounter, start: int,
                                                 sends: list[tuple[int, list[int]]]) -> None:
    run = uuid.uuid4().hex  # each example has counters of its own
    checks = [RateCheck(f"{run}:{name}", window, limit) for name, window, limit in POOL]
    reference = Reference()
    now = china(24, 0) + start
    for step, chosen in sends:
        now += step
        message = [checks[i] for i in chosen]
        # what each check saw (the policy trail's record), as well as the decision
        [got], want = await counter.decide([message], now), reference.decide(message, now)
        assert (got, got.seen) == (want, want.seen)
    counts = await counter.peek(checks, now)
    assert [c.count for c in counts] == [reference.window(c, now)[0] for c in checks]
