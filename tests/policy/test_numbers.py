"""Number normalisation: the formats docs/domain.md "Sending" accepts, and what it refuses."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.policy.contexts import context
from yizhan.domain.carriers import segment_table
from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber
from yizhan.policy.numbers import display, is_mainland, normalize, supported_segment

MOBILE = "+8613800138000"


def _assert_refused(raw: str) -> None:
    result = normalize(raw)
    assert isinstance(result, Refusal), f"{raw!r} was accepted as {result!r}"
    assert result.code == "isv.MOBILE_NUMBER_ILLEGAL"
    assert result.rule == "numbers.format"
    assert result.detail == raw[:32]


# --- mainland -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["13800138000", "+8613800138000", "008613800138000", "8613800138000", "+13800138000"],
)
def test_every_mainland_prefix_is_accepted(raw: str) -> None:
    assert normalize(raw) == MOBILE


@pytest.mark.parametrize("raw", [" 13800138000", "13800138000 ", "\t+8613800138000\n"])
def test_surrounding_whitespace_is_stripped(raw: str) -> None:
    assert normalize(raw) == MOBILE


@pytest.mark.parametrize("segment", ["13", "14", "15", "16", "17", "18", "19"])
def test_all_mobile_segments_have_the_mainland_shape(segment: str) -> None:
    assert normalize(segment + "800138000") == "+86" + segment + "800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "+86138001380001",
        "8613800138000 1",
        "12345",
        "12800138000",  # 12x is not a mobile segment
        "",
        "   ",
        "+",
        "abc",
        "1380013800a",
        "138-0013-8000",  # only surrounding whitespace is tolerated
        "138 0013 8000",
        "１３８００１３８０００",  # full-width digits
        "+86 13800138000",
        "086 13800138000",
    ],
)
def test_malformed_numbers_are_refused(raw: str) -> None:
    _assert_refused(raw)


@pytest.mark.parametrize("raw", ["+861012345678", "+862161234567", "00862161234567"])
def test_mainland_landlines_are_refused(raw: str) -> None:
    _assert_refused(raw)


def test_refusal_detail_is_truncated() -> None:
    raw = "1" * 50
    result = normalize(raw)
    assert isinstance(result, Refusal)
    assert result.detail == "1" * 32


# --- international --------------------------------------------------------------------------


def test_us_number_is_accepted_as_is() -> None:
    assert normalize("+12025550123") == "+12025550123"


def test_double_zero_prefix_is_international() -> None:
    assert normalize("0012025550123") == "+12025550123"
    assert normalize("0084987654321") == "+84987654321"


def test_vietnam_without_trunk_zero_is_accepted() -> None:
    assert normalize("+84987654321") == "+84987654321"


@pytest.mark.parametrize("raw", ["+840987654321", "00840987654321", "+4407911123456"])
def test_kept_trunk_zero_is_refused(raw: str) -> None:
    _assert_refused(raw)


def test_italian_leading_zero_is_part_of_the_number() -> None:
    # Italy has no trunk prefix: the 0 of a Rome number stays in E.164.
    assert normalize("+390612345678") == "+390612345678"


@pytest.mark.parametrize(
    "raw",
    [
        "+1",
        "+999123456789",  # unassigned country code
        "+1202555012",  # one digit short
        "+12025550123456789",  # longer than E.164 allows
        "+0012025550123",
        "+1 202 555 0123",
        "+1202555O123",  # letter O
    ],
)
def test_invalid_international_numbers_are_refused(raw: str) -> None:
    _assert_refused(raw)


@pytest.mark.parametrize(("raw", "number"), [
    ("85291234560", "+85291234560"),  # Hong Kong
    ("6591234567", "+6591234567"),  # Singapore
    ("447911123456", "+447911123456"),  # United Kingdom
    ("447700900123", "+447700900123"),  # the example: a mobile's length, unassigned
    ("84987654321", "+84987654321"),  # Vietnam
    ("390612345678", "+390612345678"),  # Italy keeps its leading 0
])
def test_country_code_without_prefix_is_international(raw: str, number: str) -> None:
    """Issue 14 point 10: Alibaba's documented form, country code + national number with no
    `+` or `00`, is accepted like the prefixed forms."""
    assert normalize(raw) == number
    assert normalize("+" + raw) == normalize("00" + raw) == number


@pytest.mark.parametrize("raw", [
    "12025550123",  # 11 digits starting with 1: mainland's shape, never North America
    "12800138000",
    "112025550123",
    "1202555012",
    "840987654321",  # trunk 0 kept
    "4407911123456",
    "999123456789",  # unassigned country code
    "852912345",  # too short for Hong Kong
    "4412345",  # a UK length no mobile has
    "3800138000",  # Ukraine, too short for a mobile
    "862161234567",  # a mainland landline under 86
    "0852912345678",
])
def test_bare_digits_that_are_no_valid_international_number_are_refused(raw: str) -> None:
    """Issue 14 point 10: bare digits are international only when they can be a mobile
    number of their country, and an 11-digit string starting with 1 is never read as +1."""
    _assert_refused(raw)


@given(st.text("0123456789", min_size=1, max_size=17))
def test_bare_digits_are_mainland_or_exactly_country_code_and_number(digits: str) -> None:
    """Issue 14 point 10: a bare digit string is read either as a mainland mobile (11 digits
    starting with 1, alone or after 86) or as exactly `+` and the same digits; never as a
    North American number."""
    number = normalize(digits)
    if isinstance(number, Refusal):
        return
    if is_mainland(number):
        assert digits in (number[3:], "86" + number[3:]) and number[3] == "1"
    else:
        assert number == "+" + digits and not digits.startswith(("1", "86"))


# --- helpers --------------------------------------------------------------------------------


def test_is_mainland() -> None:
    assert is_mainland(PhoneNumber(MOBILE))
    assert not is_mainland(PhoneNumber("+12025550123"))
    assert not is_mainland(PhoneNumber("+84987654321"))


def test_display_mainland_as_bare_digits() -> None:
    assert display(PhoneNumber(MOBILE)) == "13800138000"


def test_display_international_unchanged() -> None:
    assert display(PhoneNumber("+12025550123")) == "+12025550123"
    assert display(PhoneNumber("+84987654321")) == "+84987654321"


@pytest.mark.parametrize("raw", ["13800138000", "+12025550123", "+84987654321"])
def test_normalize_is_idempotent(raw: str) -> None:
    first = normalize(raw)
    assert isinstance(first, str)
    assert normalize(first) == first


# --- properties -----------------------------------------------------------------------------

MAINLAND_NATIONAL = st.sampled_from(sorted(segment_table().segments)).flatmap(
    lambda prefix: st.text("0123456789", min_size=11 - len(prefix),
                           max_size=11 - len(prefix)).map(lambda rest: prefix + rest))
"""Mainland mobiles of every segment the table lists (an unlisted one after a bare `+` may
be a North American number: module docstring)."""
PREFIXES = st.sampled_from(["", "+86", "0086", "86", "+"])
SPACE = st.sampled_from(["", " ", "\t", "\n", "  "])


@given(MAINLAND_NATIONAL, PREFIXES, PREFIXES, SPACE, SPACE)
def test_every_accepted_form_of_a_mainland_number_normalises_alike(
        national: str, one: str, other: str, before: str, after: str) -> None:
    first = normalize(before + one + national + after)
    assert first == "+86" + national
    assert normalize(other + national) == first


@given(MAINLAND_NATIONAL, PREFIXES)
def test_display_round_trips_mainland_numbers(national: str, prefix: str) -> None:
    number = normalize(prefix + national)
    assert isinstance(number, str)
    assert display(number) == national
    assert normalize(display(number)) == number


REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if r != "CN"
                 and phonenumbers.example_number_for_type(r, phonenumbers.PhoneNumberType.MOBILE))


@given(st.sampled_from(REGIONS), st.sampled_from(["+", "00", ""]))
def test_international_example_numbers_round_trip(region: str, prefix: str) -> None:
    """Issue 14 point 10 for the bare form: every region's example mobile is accepted
    without a prefix too, except North America's (11 digits starting with 1: mainland)."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    number = normalize(prefix + e164[1:])
    if prefix == "" and e164.startswith("+1"):
        assert number == "+86" + e164[1:] or isinstance(number, Refusal)
        return
    if number != e164:
        # The ambiguity (module docstring): a bare `+` before a listed mainland segment.
        assert prefix == "+" and number == "+86" + e164[1:]
        assert segment_table().lists(e164[1:])
        number = normalize("00" + e164[1:])
    assert number == e164
    assert normalize(display(number)) == number


@pytest.mark.parametrize(("raw", "number", "shown"), [
    ("+13125550123", "+8613125550123", "13125550123"),  # 131: China Unicom
    ("0013125550123", "+13125550123", "0013125550123"),  # Chicago, shown so it reads back
    ("+14155550123", "+14155550123", "+14155550123"),  # no segment 141: San Francisco
    ("+12025550123", "+12025550123", "+12025550123"),
])
def test_bare_plus_before_eleven_digits(raw: str, number: str, shown: str) -> None:
    assert normalize(raw) == number
    assert display(PhoneNumber(number)) == shown
    assert normalize(shown) == number


# --- per number: segments -------------------------------------------------------------------


@pytest.mark.parametrize("number", ["+8613800138000", "+8618912345678", "+12025550123"])
def test_numbers_of_supported_carriers_and_international_pass(number: str) -> None:
    assert supported_segment(context([number]), 0) is None


@pytest.mark.parametrize(("number", "detail"), [
    ("+8617012345678", "17012345678: segment 170 is not supported (virtual operator)"),
    ("+8616212345678", "16212345678: segment 162 is not supported (virtual operator)"),
    ("+8619212345678", "19212345678: segment 192 is not supported "
                       "(China Broadnet (not a supported carrier))"),
    ("+8615412345678", "15412345678: segment 154 is not supported (unknown segment)"),
])
def test_unsupported_segments_refuse_the_number(number: str, detail: str) -> None:
    refusal = supported_segment(context(["+8613800138000", number]), 1)
    assert refusal == Refusal("isv.MOBILE_NUMBER_ILLEGAL", detail, "numbers.segment")


def test_numbers_of_one_segment_share_the_verdict_and_refusals_name_their_number() -> None:
    numbers = ["+8613900000001", "+8613900000002", "+8617000000001", "+8617000000002",
               "+14155550123"]
    ctx = context(numbers)
    verdicts = [supported_segment(ctx, i) for i in range(len(numbers))]
    assert verdicts[0] is None and verdicts[1] is None and verdicts[4] is None
    refused = [v for v in verdicts if v is not None]
    assert [r.code for r in refused] == ["isv.MOBILE_NUMBER_ILLEGAL"] * 2
    assert "17000000001" in refused[0].detail and "17000000002" in refused[1].detail
