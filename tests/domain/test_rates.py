"""`Windows.admit_keys` (a message as its keys and their shape) decides and counts exactly as
`Windows.admit` does with the checks the shape stands for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.contract.test_rate_counter import china
from yizhan.domain.model import AccountId, TemplateType
from yizhan.domain.rates import Shape, Window, Windows
from yizhan.policy.frequency import limits_for, platform_keys

VERIFICATION = Shape(((0, Window.MINUTE, 1), (0, Window.HOUR, 5), (0, Window.DAY, 10),
                      (1, Window.DAY, 40)))
SHAPES = [VERIFICATION, Shape(((0, Window.DAY, 2),)),
          Shape(((0, Window.DAY, 0),)),  # a limit of 0 refuses even a new key
          Shape(((0, Window.HOUR, 3), (0, Window.HOUR, 3)))]  # one window twice: counted twice
NUMBERS = st.sampled_from(["+8613800000001", "+8613800000002", "+8613800000003"])
STEPS = st.sampled_from([0, 1, 59_999, 60_000, 3_600_000, 86_400_000])


@settings(max_examples=300)
@given(st.lists(st.tuples(STEPS, st.sampled_from(range(len(SHAPES))), NUMBERS), max_size=30))
def test_admit_keys_agrees_with_admit(sends: list[tuple[int, int, str]]) -> None:
    by_keys, by_checks = Windows(), Windows()
    now = china(24, 11)
    for step, which, number in sends:
        now += step
        shape = SHAPES[which]
        keys = [f"{which}:{number}", f"n:{number}"][:max(i for i, _, _ in shape.slots) + 1]
        assert by_keys.admit_keys(shape, keys, now) == by_checks.admit(shape.checks(keys), now)
        assert by_keys.state == by_checks.state and by_keys.dirty == by_checks.dirty


def test_platform_keys_stand_for_the_platform_limits() -> None:
    for kind in TemplateType:
        for number in ("+8613800138000", "+14155550123", "+84987654321"):
            limits = limits_for(AccountId(7), "驿:站", "SMS_1", kind, number)
            shape, keys = platform_keys(AccountId(7), "驿:站", "SMS_1", kind, number)
            assert [tuple(limit[:3]) for limit in limits] == [
                tuple(check) for check in shape.checks(keys)]
            assert len(set(keys)) == len(keys)
