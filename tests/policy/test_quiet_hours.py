"""Promotion hours at their edges: [08:00:00, 22:00:00) China time, mainland only, for
promotions only."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.policy.contexts import context
from yizhan.domain.model import TemplateType
from yizhan.domain.timezone import CHINA
from yizhan.policy.quiet_hours import promotion_hours

MAINLAND = "+8613800138000"


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-25T{text}").replace(tzinfo=CHINA)


@pytest.mark.parametrize(("moment", "refused"), [
    ("07:59:59", True), ("08:00:00", False), ("21:59:59", False), ("22:00:00", True),
    ("00:00:00", True), ("12:00:00", False), ("23:59:59", True),
])
def test_promotions_to_mainland_numbers_only_in_the_day(moment: str, refused: bool) -> None:
    ctx = context([MAINLAND], TemplateType.PROMOTION, now=at(moment))
    refusal = promotion_hours(ctx, 0)
    assert (refusal is not None) is refused
    if refusal:
        assert refusal.code == "isv.PROMOTION_TIME_LIMIT" and refusal.rule == "promotion.hours"
        assert refusal.detail.startswith(f"it is {moment} China time")


def test_the_window_is_china_time_whatever_the_clock_zone() -> None:
    utc_evening = datetime.fromisoformat("2026-11-25T23:30:00+00:00")  # 07:30 in China
    assert promotion_hours(context([MAINLAND], TemplateType.PROMOTION, now=utc_evening), 0)
    utc_morning = datetime.fromisoformat("2026-11-25T00:30:00+00:00")  # 08:30 in China
    assert promotion_hours(context([MAINLAND], TemplateType.PROMOTION, now=utc_morning),
                           0) is None


@pytest.mark.parametrize("type_", [TemplateType.VERIFICATION, TemplateType.NOTIFICATION,
                                   TemplateType.INTERNATIONAL])
def test_other_types_have_no_window(type_: TemplateType) -> None:
    assert promotion_hours(context([MAINLAND], type_, now=at("03:00:00")), 0) is None


def test_international_numbers_have_no_window() -> None:
    ctx = context([MAINLAND, "+6591234567"], TemplateType.PROMOTION, now=at("03:00:00"))
    assert promotion_hours(ctx, 0) is not None
    assert promotion_hours(ctx, 1) is None
