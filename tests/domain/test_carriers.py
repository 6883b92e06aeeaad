"""The carrier of a number from the maintained segment table, and the segments refused."""

from __future__ import annotations

from datetime import date

import phonenumbers
import pytest
from phonenumbers import carrier as phone_carriers

from yizhan.domain.carriers import (
    Carrier,
    carrier_of,
    item_form,
    mainland_segment,
    parse_table,
    segment_table,
)
from yizhan.domain.model import PhoneNumber


@pytest.mark.parametrize(("number", "expected"), [
    ("+8613800138000", Carrier.CHINA_MOBILE),
    ("+8613400000000", Carrier.CHINA_MOBILE),
    ("+8619800000000", Carrier.CHINA_MOBILE),
    ("+8613000000000", Carrier.CHINA_UNICOM),
    ("+8616600000000", Carrier.CHINA_UNICOM),
    ("+8613300000000", Carrier.CHINA_TELECOM),
    ("+8619900000000", Carrier.CHINA_TELECOM),
    ("+12025550123", Carrier.INTERNATIONAL),
    ("+84987654321", Carrier.INTERNATIONAL),
])
def test_carrier_of(number: str, expected: Carrier) -> None:
    assert carrier_of(PhoneNumber(number)) is expected


@pytest.mark.parametrize(("number", "why"), [
    ("+8617000000000", "virtual operator"),
    ("+8617031234567", "virtual operator"),
    ("+8617100000000", "virtual operator"),
    ("+8616200000000", "virtual operator"),
    ("+8616500000000", "virtual operator"),
    ("+8616700000000", "virtual operator"),
    ("+8619200000000", "China Broadnet (not a supported carrier)"),
    ("+8613490000000", "satellite"),  # 1349 inside China Mobile's 134: longest prefix wins
    ("+8615400000000", "unknown segment"),
    ("+8614000000000", "unknown segment"),  # 13-digit IoT range: no 11-digit mobiles
])
def test_segments_without_a_supported_carrier(number: str, why: str) -> None:
    segment = mainland_segment(PhoneNumber(number))
    assert segment is not None and segment.carrier is None and segment.refused == why
    assert carrier_of(PhoneNumber(number)) is None


def test_the_table_says_when_it_was_reviewed() -> None:
    assert isinstance(segment_table().reviewed, date)


def test_the_table_agrees_with_libphonenumber_on_every_carrier_segment() -> None:
    names = {"China Mobile": Carrier.CHINA_MOBILE, "China Unicom": Carrier.CHINA_UNICOM,
             "China Telecom": Carrier.CHINA_TELECOM}
    for prefix, segment in segment_table().segments.items():
        if segment.carrier is None:
            continue
        number = phonenumbers.parse("+86" + prefix.ljust(11, "0"))
        named = phone_carriers.name_for_number(number, "en")
        assert names.get(named, segment.carrier) is segment.carrier, prefix


def test_a_prefix_listed_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="139"):
        parse_table('reviewed = 2026-01-01\n[carriers]\nchina_mobile = ["139"]\n'
                    '[refused]\nx = ["139"]\n')


def test_items_show_a_mainland_number_as_its_11_digits_and_others_in_e164() -> None:
    assert item_form("+8613800138000") == "13800138000"
    assert item_form("+12025550123") == "+12025550123"
    assert item_form("+84987654321") == "+84987654321"
