"""Number normalisation: the formats DOMAIN.md "Sending" accepts, and what it refuses."""

from __future__ import annotations

import pytest

from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber
from yizhan.policy.numbers import display, is_mainland, normalize

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
